# Fails when a test executable has a Catch2 test case that none of its ctest entries runs.
# The long test files run as one ctest entry per tag (tests/CMakeLists.txt); a case whose tags
# are all missing from that list would otherwise never run, and nothing would say so.
#   cmake -DEXE=<test executable> -DTAGS=<tag,tag,...> -P check_tags.cmake
string(REPLACE "," ";" tag_list "${TAGS}")
set(spec "")
foreach(tag IN LISTS tag_list)
  string(APPEND spec "~[${tag}]")
endforeach()
# Catch2 2.x returns the number of listed cases as its exit code: only the output counts.
execute_process(COMMAND "${EXE}" "${spec}" --list-test-names-only
                OUTPUT_VARIABLE unlisted ERROR_VARIABLE errors RESULT_VARIABLE status)
string(STRIP "${unlisted}" unlisted)
if(errors)
  message(FATAL_ERROR "${EXE} --list-test-names-only failed (${status}): ${errors}")
endif()
if(unlisted)
  message(FATAL_ERROR "test cases of ${EXE} with none of the tags ctest runs (${TAGS}); "
                      "give them one of these tags, or add theirs to tests/CMakeLists.txt:\n${unlisted}")
endif()
message(STATUS "every test case of ${EXE} carries one of: ${TAGS}")
