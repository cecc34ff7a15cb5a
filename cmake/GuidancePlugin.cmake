# guidance_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>])
#
# Declares a plugin library `libguidance-<name>.so`: a MODULE library built against the plugin API
# only, with hidden visibility, placed where the host finds it. Works in this tree and, through
# find_package(guidance-plugin-api), out of tree.
function(guidance_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "guidance_add_plugin(${name}): SOURCES is required")
  endif()
  set(target "guidance-plugin-${name}")
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE guidance::plugin-api ${ARG_LIBRARIES})
  # In this tree, plugins include the shared helpers of plugins/<kind>/common/ by full path.
  if(DEFINED GUIDANCE_IN_TREE_SOURCE_DIR)
    target_include_directories(${target} PRIVATE "${GUIDANCE_IN_TREE_SOURCE_DIR}")
  endif()
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME "guidance-${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED GUIDANCE_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY "${GUIDANCE_PLUGIN_OUTPUT_DIRECTORY}")
  endif()
  if(COMMAND guidance_use_pch)
    guidance_use_pch(${target})
  endif()
  if(DEFINED GUIDANCE_INSTALL_PLUGIN_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION "${GUIDANCE_INSTALL_PLUGIN_DIR}")
  endif()
  if(TARGET guidance-plugins)
    add_dependencies(guidance-plugins ${target})
  endif()
endfunction()
