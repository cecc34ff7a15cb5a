# cmake -DMODULE=<name> -DROOT=<source dir> -DALLOWED=<folders> -DFILES=<files> -DSTAMP=<file>
#       -P CheckModuleIncludes.cmake
#
# Fails, naming each file:line, when one of FILES includes a project header ("host/<module>/..."
# or "analysis/...") from a folder not in ALLOWED; touches STAMP otherwise. Run by
# guidance_add_module() (cmake/GuidanceModule.cmake) whenever one of the files changes.
cmake_minimum_required(VERSION 3.18)
set(violations "")
foreach(file IN LISTS FILES)
  # One list item per line: characters that would split or join list items are masked first.
  file(READ "${file}" content)
  foreach(special ";" "[" "]")
    string(REPLACE "${special}" "_" content "${content}")
  endforeach()
  string(REPLACE "\n" ";" lines "${content}")
  set(number 0)
  foreach(line IN LISTS lines)
    math(EXPR number "${number} + 1")
    if(line MATCHES "^[ \t]*#[ \t]*include[ \t]+\"((host/[A-Za-z0-9_-]+|analysis)/[^\"]*)\"")
      set(header "${CMAKE_MATCH_1}")
      set(header_folder "${CMAKE_MATCH_2}")
      if(NOT header_folder IN_LIST ALLOWED)
        file(RELATIVE_PATH shown "${ROOT}" "${file}")
        string(APPEND violations
          "\n  ${shown}:${number}: includes ${header}, but module '${MODULE}' does not depend on "
          "${header_folder} (it may include: ${ALLOWED})")
      endif()
    endif()
  endforeach()
endforeach()
if(violations)
  string(REPLACE ";" ", " violations "${violations}")
  message(FATAL_ERROR "an include points past its module's declared dependencies "
                      "(declared in host/CMakeLists.txt):${violations}")
endif()
file(TOUCH "${STAMP}")
