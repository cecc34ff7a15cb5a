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
  # In this tree, each link relists the library in plugins.manifest beside it (its size and
  # checksum); the host refuses a listed library that no longer matches. Out of tree there is no
  # manifest: the host probes such libraries in a child process instead (docs/plugins.md).
  if(TARGET guidance-plugin-manifest)
    add_dependencies(${target} guidance-plugin-manifest)
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND guidance-plugin-manifest "$<TARGET_FILE_DIR:${target}>/plugins.manifest"
              "$<TARGET_FILE:${target}>"
      VERBATIM)
  endif()
  if(DEFINED GUIDANCE_INSTALL_PLUGIN_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION "${GUIDANCE_INSTALL_PLUGIN_DIR}")
    if(TARGET guidance-plugin-manifest)
      # Installing rewrites the library (its RPATH), so the installed copy is listed afresh.
      install(CODE "
        set(dir \"${GUIDANCE_INSTALL_PLUGIN_DIR}\")
        if(NOT IS_ABSOLUTE \"\${dir}\")
          set(dir \"\${CMAKE_INSTALL_PREFIX}/\${dir}\")
        endif()
        set(dir \"\$ENV{DESTDIR}\${dir}\")
        execute_process(
          COMMAND \"$<TARGET_FILE:guidance-plugin-manifest>\" \"\${dir}/plugins.manifest\"
                  \"\${dir}/$<TARGET_FILE_NAME:${target}>\"
          RESULT_VARIABLE failed)
        if(failed)
          message(FATAL_ERROR
            \"cannot list $<TARGET_FILE_NAME:${target}> in \${dir}/plugins.manifest\")
        endif()")
    endif()
  endif()
  if(TARGET guidance-plugins)
    add_dependencies(guidance-plugins ${target})
    # Its line of plugins.available (plugins/CMakeLists.txt): the name, the library's file name
    # as this target makes it, and the command that builds it.
    set_property(GLOBAL APPEND PROPERTY GUIDANCE_TREE_PLUGINS
      "${name} $<TARGET_FILE_NAME:${target}> cmake --build ${CMAKE_BINARY_DIR} --target ${target}")
  endif()
endfunction()
