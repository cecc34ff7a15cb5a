# guidance_add_module(<name> [FOLDER <dir>] [DEPENDS <modules...>] [LIBRARIES <libs...>])
#
# Declares one module of the host: the static library guidance::<name> (target
# guidance-module-<name>) built from <dir>/*.cpp
# (FOLDER defaults to host/<name>), linking the modules it DEPENDS on and the LIBRARIES it needs.
# The declaration also holds the layering: a module's files may include headers of its own
# folder, of the modules it depends on (directly or through them) and of the plugin API, nothing
# else of the project. A build step checks every `#include "host/..."` and `#include
# "analysis/..."` of the folder against it (cmake/CheckModuleIncludes.cmake), so an include that
# points upward or sideways fails the build naming the file and line. Modules are declared in
# dependency order; DEPENDS may only name modules declared before, so there are no cycles.
set(GUIDANCE_MODULE_CHECK_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/CheckModuleIncludes.cmake")

function(guidance_add_module name)
  cmake_parse_arguments(ARG "" "FOLDER" "DEPENDS;LIBRARIES" ${ARGN})
  if(NOT ARG_FOLDER)
    set(ARG_FOLDER "host/${name}")
  endif()
  set(folder "${PROJECT_SOURCE_DIR}/${ARG_FOLDER}")

  # The folders this module may include from: its own and those of every module below it.
  set(allowed "${ARG_FOLDER}")
  set(reachable "")
  foreach(dependency IN LISTS ARG_DEPENDS)
    get_property(declared GLOBAL PROPERTY GUIDANCE_MODULE_${dependency}_FOLDERS SET)
    if(NOT declared)
      message(FATAL_ERROR "module '${name}' depends on '${dependency}', which is not declared "
                          "before it (modules are declared in dependency order)")
    endif()
    get_property(folders GLOBAL PROPERTY GUIDANCE_MODULE_${dependency}_FOLDERS)
    list(APPEND allowed ${folders})
    get_property(modules GLOBAL PROPERTY GUIDANCE_MODULE_${dependency}_REACHES)
    list(APPEND reachable ${dependency} ${modules})
  endforeach()
  list(REMOVE_DUPLICATES allowed)
  list(REMOVE_DUPLICATES reachable)
  set_property(GLOBAL PROPERTY GUIDANCE_MODULE_${name}_FOLDERS "${allowed}")
  set_property(GLOBAL PROPERTY GUIDANCE_MODULE_${name}_REACHES "${reachable}")

  file(GLOB sources CONFIGURE_DEPENDS "${folder}/*.cpp")
  file(GLOB headers CONFIGURE_DEPENDS "${folder}/*.h")
  set(library guidance-module-${name})
  add_library(${library} STATIC ${sources})
  add_library(guidance::${name} ALIAS ${library})
  target_link_libraries(${library} PUBLIC ${ARG_LIBRARIES})
  foreach(dependency IN LISTS ARG_DEPENDS)
    target_link_libraries(${library} PUBLIC guidance::${dependency})
  endforeach()
  guidance_use_pch(${library})

  set(stamp "${CMAKE_CURRENT_BINARY_DIR}/${name}-includes.checked")
  add_custom_command(OUTPUT "${stamp}"
    COMMAND "${CMAKE_COMMAND}" "-DMODULE=${name}" "-DROOT=${PROJECT_SOURCE_DIR}"
            "-DALLOWED=${allowed}" "-DFILES=${sources};${headers}" "-DSTAMP=${stamp}"
            -P "${GUIDANCE_MODULE_CHECK_SCRIPT}"
    DEPENDS ${sources} ${headers} "${GUIDANCE_MODULE_CHECK_SCRIPT}"
    COMMENT "Checking the includes of module ${name}"
    VERBATIM)
  add_custom_target(${library}-includes DEPENDS "${stamp}")
  add_dependencies(${library} ${library}-includes)
endfunction()
