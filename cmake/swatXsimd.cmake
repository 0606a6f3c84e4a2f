# Work around a broken xsimd package config, shared by the source tree and the installed
# swatConfig.cmake (both load it after finding xsimd).
#
# xsimd 8.x built with ENABLE_XTL_COMPLEX (Debian 12, Ubuntu 22.04/23.04) exports
# INTERFACE_LINK_LIBRARIES "xtl" but never finds xtl, so the plain name turns into `-lxtl`
# and every link fails (xtensor-stack/xsimd#869, fixed upstream in 10.0). swat does not use
# xtl (XSIMD_ENABLE_XTL_COMPLEX is not defined by that package either), so when no `xtl`
# target exists we drop the dangling name from the imported target.
include_guard(GLOBAL)

function(swat_repair_xsimd_target)
  if(NOT TARGET xsimd OR TARGET xtl)
    return()
  endif()
  get_target_property(_imported xsimd IMPORTED)
  if(NOT _imported)
    return()  # a target built in this project (e.g. xsimd added as a subdirectory): leave it
  endif()
  get_target_property(_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_libs AND "xtl" IN_LIST _libs)
    list(REMOVE_ITEM _libs xtl)
    set_property(TARGET xsimd PROPERTY INTERFACE_LINK_LIBRARIES "${_libs}")
  endif()
endfunction()
