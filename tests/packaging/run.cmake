# Packaging test (SPEC section 7): configure, build and run tests/packaging/consumer against
# this source tree one way, first with swat::swat only, then with swat::dispatch (but in the
# fetchcontent mode, below).
#
#   cmake -DMODE=<add_subdirectory|fetchcontent|find_package|fetchcontent_example|readme_vendor>
#         -DSOURCE_DIR=<swat tree> -DWORK_DIR=<scratch dir, wiped> [-DGENERATOR=..]
#         [-DMAKE_PROGRAM=..] [-DCXX_COMPILER=..] [-DBUILD_TYPE=..] [-DJOBS=2]
#         [-DXSIMD_DIR=..] [-DPREFIX_PATH=a|b] -P run.cmake
#
# find_package first installs the tree into WORK_DIR/prefix and checks the installed layout.
# fetchcontent_example builds the documented examples/fetchcontent project instead, redirected
# to this tree with FETCHCONTENT_SOURCE_DIR_SWAT (no network). readme_vendor builds the consumer
# with the README's FetchContent snippet (the ```cmake block after "<!-- snippet: vendor"),
# redirected the same way, as the README tells users to.
cmake_minimum_required(VERSION 3.16)

foreach(required MODE SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${required} OR "${${required}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: -D${required}=... is required")
  endif()
endforeach()
if(NOT MODE MATCHES "^(add_subdirectory|fetchcontent|find_package|fetchcontent_example|readme_vendor)$")
  message(FATAL_ERROR "run.cmake: MODE must be add_subdirectory, fetchcontent, find_package, fetchcontent_example or readme_vendor, got '${MODE}'")
endif()
if(NOT JOBS)
  set(JOBS 2)
endif()
# Lists arrive '|'-separated: a ';' would split the ctest command line.
string(REPLACE "|" ";" PREFIX_PATH "${PREFIX_PATH}")
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)
get_filename_component(WORK_DIR "${WORK_DIR}" ABSOLUTE)

# The toolchain of the enclosing build, so every nested project compiles the same way. An
# empty BUILD_TYPE means no optimisation or debug flags: the fastest compile.
set(toolchain_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
set(config_args "")
if(BUILD_TYPE)
  set(config_args --config "${BUILD_TYPE}")
endif()
if(GENERATOR)
  list(APPEND toolchain_args -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND toolchain_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
  list(APPEND toolchain_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(XSIMD_DIR)
  list(APPEND toolchain_args "-Dxsimd_DIR=${XSIMD_DIR}")
endif()

function(step what)
  message(STATUS "---- ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc COMMAND_ECHO STDOUT)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "packaging.${MODE}: ${what} failed (${rc})")
  endif()
endfunction()

function(build dir)  # [target]
  set(target_args "")
  if(ARGN)
    set(target_args --target ${ARGN})
  endif()
  step("build ${dir} ${ARGN}" "${CMAKE_COMMAND}" --build "${dir}" ${config_args}
       --parallel ${JOBS} ${target_args})
endfunction()

# Object files of the per-ISA dispatch kernels (one generated source per path) under a build tree.
function(dispatch_objects dir out)
  file(GLOB_RECURSE files "${dir}/*.o" "${dir}/*.obj")
  list(FILTER files INCLUDE REGEX "/swat_dispatch_[a-z0-9]+\\.dir/")
  set(${out} "${files}" PARENT_SCOPE)
endfunction()

function(run_program path)
  foreach(candidate "${path}" "${path}.exe")
    if(EXISTS "${candidate}")
      step("run ${candidate}" "${candidate}")
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "packaging.${MODE}: ${path} was not built")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# The documented FetchContent example, as a user builds it but redirected to this tree.
if(MODE STREQUAL "fetchcontent_example")
  set(example_dir "${WORK_DIR}/example")
  step("configure examples/fetchcontent"
    "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/examples/fetchcontent" -B "${example_dir}"
    ${toolchain_args} "-DCMAKE_PREFIX_PATH=${PREFIX_PATH}"
    "-DFETCHCONTENT_SOURCE_DIR_SWAT=${SOURCE_DIR}"
    -DFETCHCONTENT_FULLY_DISCONNECTED=ON
    # Like the modes below, the AVX2 (or NEON) and portable paths only: the project is as
    # published, and all four paths took 74 s of a core at -O0 against about 35.
    "-DSWAT_DISPATCH_ONLY=avx2\;neon")
  build("${example_dir}")
  file(GLOB_RECURSE example LIST_DIRECTORIES false
    "${example_dir}/swat_fetchcontent_example" "${example_dir}/swat_fetchcontent_example.exe")
  if(NOT example)
    message(FATAL_ERROR "packaging.${MODE}: swat_fetchcontent_example was not built")
  endif()
  list(GET example 0 example)
  step("run ${example}" "${example}")
  message(STATUS "packaging.${MODE}: PASS")
  return()
endif()

# The README's FetchContent lines, verbatim, around the consumer's source.
if(MODE STREQUAL "readme_vendor")
  file(READ "${SOURCE_DIR}/README.md" readme)
  string(FIND "${readme}" "<!-- snippet: vendor" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "packaging.${MODE}: README.md has no '<!-- snippet: vendor' marker")
  endif()
  string(SUBSTRING "${readme}" ${at} -1 readme)
  string(FIND "${readme}" "```cmake\n" open)
  string(FIND "${readme}" "\n```\n" close)
  if(open EQUAL -1 OR close LESS open)
    message(FATAL_ERROR "packaging.${MODE}: no ```cmake block after the vendor marker in README.md")
  endif()
  math(EXPR open "${open} + 9")
  math(EXPR length "${close} - ${open} + 1")
  string(SUBSTRING "${readme}" ${open} ${length} snippet)
  set(project_dir "${WORK_DIR}/project")
  file(MAKE_DIRECTORY "${project_dir}")
  file(COPY "${SOURCE_DIR}/tests/packaging/consumer/main.cpp" DESTINATION "${project_dir}")
  file(WRITE "${project_dir}/CMakeLists.txt"
    "cmake_minimum_required(VERSION 3.16)\nproject(readme_vendor LANGUAGES CXX)\n"
    "add_executable(app main.cpp)\n# ---- README.md\n${snippet}")
  set(build_dir "${WORK_DIR}/build")
  step("configure the README's FetchContent snippet"
    "${CMAKE_COMMAND}" -S "${project_dir}" -B "${build_dir}"
    ${toolchain_args} "-DCMAKE_PREFIX_PATH=${PREFIX_PATH}"
    "-DFETCHCONTENT_SOURCE_DIR_SWAT=${SOURCE_DIR}"
    -DFETCHCONTENT_FULLY_DISCONNECTED=ON)
  build("${build_dir}")
  file(GLOB_RECURSE app LIST_DIRECTORIES false "${build_dir}/app" "${build_dir}/app.exe")
  if(NOT app)
    message(FATAL_ERROR "packaging.${MODE}: app was not built")
  endif()
  list(GET app 0 app)
  step("run ${app}" "${app}")
  message(STATUS "packaging.${MODE}: PASS")
  return()
endif()

# These modes test how swat is found, not what swat::dispatch compiles: they keep the AVX2 (or
# NEON) path and portable (SWAT_DISPATCH_ONLY), enough for two objects and for the consumer's
# check that dispatch reaches AVX2. The release build compiles every path; compiling all of them
# in each mode as well took about 50 s of a core per mode.
set(consumer_args
  "-DSWAT_CONSUMER_MODE=${MODE}"
  "-DSWAT_CONSUMER_SOURCE_DIR=${SOURCE_DIR}"
  "-DSWAT_DISPATCH_ONLY=avx2\;neon")
set(prefix_path "${PREFIX_PATH}")

if(MODE STREQUAL "find_package")
  set(prefix "${WORK_DIR}/prefix")
  step("configure swat for install"
    "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/swat-build" ${toolchain_args}
    "-DCMAKE_PREFIX_PATH=${PREFIX_PATH}"
    -DSWAT_BUILD_TESTS=OFF -DSWAT_BUILD_BENCHMARKS=OFF -DSWAT_BUILD_EXAMPLES=OFF
    "-DCMAKE_INSTALL_PREFIX=${prefix}")
  build("${WORK_DIR}/swat-build")
  step("install swat" "${CMAKE_COMMAND}" --install "${WORK_DIR}/swat-build" ${config_args})

  # Layout: headers and the config under share/ (architecture-independent); no sources, since
  # swat::dispatch compiles a header from one-line sources generated in the consumer's build.
  foreach(file
      include/swat/swat.hpp
      include/swat/reference.hpp
      include/swat/detail/forward_kernel.hpp
      include/swat/detail/dispatch_instance.hpp
      share/cmake/swat/swatConfig.cmake
      share/cmake/swat/swatConfigVersion.cmake
      share/cmake/swat/swatTargets.cmake
      share/cmake/swat/swatDispatch.cmake
      share/cmake/swat/swatXsimd.cmake)
    if(NOT EXISTS "${prefix}/${file}")
      message(FATAL_ERROR "packaging.find_package: ${file} is not installed")
    endif()
  endforeach()
  file(GLOB_RECURSE installed RELATIVE "${prefix}" "${prefix}/*")
  list(SORT installed)
  foreach(file IN LISTS installed)
    if(NOT file MATCHES "^(include/swat/|share/cmake/swat/)")
      message(FATAL_ERROR "packaging.find_package: unexpected installed file ${file}")
    endif()
    # Relocatable: no absolute path of this machine may leak into the package.
    file(READ "${prefix}/${file}" content)
    foreach(path "${prefix}" "${SOURCE_DIR}" "${WORK_DIR}")
      string(FIND "${content}" "${path}" at)
      if(NOT at EQUAL -1)
        message(FATAL_ERROR "packaging.find_package: ${file} contains the path ${path}")
      endif()
    endforeach()
  endforeach()
  list(LENGTH installed count)
  message(STATUS "installed ${count} files under ${prefix}, layout ok")

  list(APPEND consumer_args "-DSWAT_CONSUMER_PREFIX=${prefix}")
  set(prefix_path "${prefix}" ${PREFIX_PATH})
endif()

set(build_dir "${WORK_DIR}/consumer")
step("configure consumer (${MODE})"
  "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/tests/packaging/consumer" -B "${build_dir}"
  ${toolchain_args} "-DCMAKE_PREFIX_PATH=${prefix_path}" ${consumer_args})

# 1) swat::swat only. Building `all` must not compile the dispatch kernels.
build("${build_dir}")
dispatch_objects("${build_dir}" objects)
if(objects)
  message(FATAL_ERROR "packaging.${MODE}: building all compiled swat::dispatch, which nothing linked: ${objects}")
endif()
run_program("${build_dir}/bin/consumer")

# 2) swat::dispatch: one object per ISA path, portable included. Not in the fetchcontent mode:
# FetchContent_MakeAvailable adds the same tree as add_subdirectory does, whose mode builds
# swat::dispatch from it, and fetchcontent_example builds swat::dispatch through FetchContent
# (each build of the objects took about 75 s of a core with the other tests beside it).
if(MODE STREQUAL "fetchcontent")
  message(STATUS "packaging.${MODE}: PASS (swat::dispatch: the add_subdirectory and fetchcontent_example modes)")
  return()
endif()
build("${build_dir}" consumer_dispatch)
dispatch_objects("${build_dir}" objects)
list(LENGTH objects count)
if(count LESS 2)
  message(FATAL_ERROR "packaging.${MODE}: expected per-ISA dispatch objects, found: ${objects}")
endif()
run_program("${build_dir}/bin/consumer_dispatch")

message(STATUS "packaging.${MODE}: PASS")
