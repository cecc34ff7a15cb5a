# cmake -DSOURCE_DIR=<repository> -DWORK=<empty folder> -P ModuleLayering.cmake
#
# Builds a three-module project with the repository's guidance_add_module(): `low`, `middle`
# (depends on low) and `top` (depends on middle). First `low` includes a header of `middle`, which
# must fail the build naming the file, the line and the folder; then, with that include gone,
# `top` including a header of `low` (reached through middle) must build. A module that depends on
# one not declared before it must fail at configure time.
cmake_minimum_required(VERSION 3.18)
file(REMOVE_RECURSE "${WORK}")

function(write_project folder low_source modules)
  file(WRITE "${folder}/CMakeLists.txt" "
cmake_minimum_required(VERSION 3.18)
project(layering CXX)
function(guidance_use_pch target)
endfunction()
include(\"${SOURCE_DIR}/cmake/GuidanceModule.cmake\")
${modules}
")
  file(WRITE "${folder}/host/low/Low.h" "#pragma once\nint low();\n")
  file(WRITE "${folder}/host/low/Low.cpp" "${low_source}")
  file(WRITE "${folder}/host/middle/Middle.h" "#pragma once\nint middle();\n")
  file(WRITE "${folder}/host/middle/Middle.cpp"
    "#include \"host/middle/Middle.h\"\n#include \"host/low/Low.h\"\nint middle() { return low(); }\n")
  file(WRITE "${folder}/host/top/Top.cpp"
    "#include \"host/middle/Middle.h\"\n#include \"host/low/Low.h\"\nint top() { return middle() + low(); }\n")
endfunction()

set(declared "
guidance_add_module(low)
target_include_directories(guidance-module-low PUBLIC \"\${PROJECT_SOURCE_DIR}\")
guidance_add_module(middle DEPENDS low)
guidance_add_module(top DEPENDS middle)
")

function(build folder expect_success must_say)
  execute_process(COMMAND "${CMAKE_COMMAND}" -S "${folder}" -B "${folder}/build"
                  RESULT_VARIABLE configured OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(configured EQUAL 0)
    execute_process(COMMAND "${CMAKE_COMMAND}" --build "${folder}/build"
                    RESULT_VARIABLE built OUTPUT_VARIABLE build_out ERROR_VARIABLE build_err)
    string(APPEND out "${build_out}")
    string(APPEND err "${build_err}")
  else()
    set(built "${configured}")
  endif()
  if(expect_success AND NOT built EQUAL 0)
    message(FATAL_ERROR "${folder}: expected the build to succeed:\n${out}\n${err}")
  endif()
  if(NOT expect_success AND built EQUAL 0)
    message(FATAL_ERROR "${folder}: expected the build to fail (${must_say}), it succeeded")
  endif()
  string(REPLACE "\n" " " flat "${out} ${err}")
  string(REGEX REPLACE "[ \t]+" " " flat "${flat}")
  if(NOT flat MATCHES "${must_say}")
    message(FATAL_ERROR "${folder}: the output does not say '${must_say}':\n${out}\n${err}")
  endif()
endfunction()

# An upward include: low includes middle's header.
write_project("${WORK}/upward"
  "#include \"host/low/Low.h\"\n\n#include \"host/middle/Middle.h\"\nint low() { return 1; }\n"
  "${declared}")
build("${WORK}/upward" FALSE
  "host/low/Low.cpp:3: includes host/middle/Middle.h, but module 'low' does not depend on host/middle")

# Allowed includes only: its own folder's, and low's from top through middle.
write_project("${WORK}/allowed" "#include \"host/low/Low.h\"\nint low() { return 1; }\n"
  "${declared}")
build("${WORK}/allowed" TRUE "")

# A dependency declared after its user.
write_project("${WORK}/order" "#include \"host/low/Low.h\"\nint low() { return 1; }\n" "
guidance_add_module(middle DEPENDS low)
guidance_add_module(low)
")
build("${WORK}/order" FALSE "module 'middle' depends on 'low', which is not declared before it")
