# Run by ctest (cmake/GTestSuites.cmake): lists the suites of `binary` and writes `list_file`, one
# add_test per suite. In: binary, list_file, label, e2e_suites, working_directory.
cmake_policy(VERSION 3.20)
execute_process(COMMAND "${binary}" --gtest_list_tests
  WORKING_DIRECTORY "${working_directory}"
  OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE status TIMEOUT 120)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "listing the tests of ${binary} failed (${status}):\n${listing}${errors}")
endif()

# A suite's line is "Suite." or "Prefix/Suite/0.  # TypeParam = ..."; its cases follow indented.
string(REPLACE "\n" ";" lines "${listing}")
set(suites)
foreach(line IN LISTS lines)
  if(line MATCHES "^([A-Za-z_][A-Za-z0-9_/]*)\\.(  #.*)?$")
    list(APPEND suites "${CMAKE_MATCH_1}")
  endif()
endforeach()
if(NOT suites)
  message(FATAL_ERROR "${binary} lists no test suites:\n${listing}")
endif()
foreach(suite IN LISTS e2e_suites)
  if(NOT suite IN_LIST suites)
    message(FATAL_ERROR "${binary} has no suite '${suite}', which its guidance_add_test() "
                        "names in E2E_SUITES: remove or rename it there")
  endif()
endforeach()

# The unit suites run in one process (`<label>.unit`, every suite but the e2e ones), each e2e
# suite in its own (`<label>.<Suite>`), so the long ones run in parallel.
set(unit_suites ${suites})
set(excluded "")
foreach(suite IN LISTS e2e_suites)
  list(REMOVE_ITEM unit_suites "${suite}")
  string(APPEND excluded ":${suite}.*")
endforeach()
set(script "")
macro(add_suite_test name filter kind)
  string(APPEND script
    "add_test([=[${name}]=] [=[${binary}]=] [=[--gtest_filter=${filter}]=])\n"
    "set_tests_properties([=[${name}]=] PROPERTIES LABELS [=[${label};${kind}]=] "
    "WORKING_DIRECTORY [=[${working_directory}]=])\n")
endmacro()
if(unit_suites AND excluded)
  string(SUBSTRING "${excluded}" 1 -1 excluded)
  add_suite_test("${label}.unit" "*-${excluded}" unit)
elseif(unit_suites)
  add_suite_test("${label}.unit" "*" unit)
endif()
foreach(suite IN LISTS e2e_suites)
  add_suite_test("${label}.${suite}" "${suite}.*" e2e)
endforeach()
file(WRITE "${list_file}" "${script}")
