# The ctest tests of a GoogleTest binary, labelled `unit` or `e2e` so that `ctest -L unit` is the
# quick check. The binary's unit suites run as one test, `<label>.unit`, in one process; each
# suite named in E2E_SUITES (suites that run the program, start processes, train whole runs or
# take seconds) is a test of its own, `<label>.<Suite>`, so the long ones run in parallel. Every
# test process pays LibTorch's start-up (~1 s here: loading and registering its operators) before
# its first case; gtest_discover_tests' one process per case spent about half of the suite's time
# starting. Suites are listed from the binary when ctest runs (as gtest_discover_tests' PRE_TEST
# mode does), so a new suite is a unit suite with no CMake change; a name in E2E_SUITES that the
# binary lacks fails the listing, so the declaration cannot go stale.
#
#   guidance_add_gtest_suites(<target> LABEL <label> [E2E_SUITES <suite>...])

set(GUIDANCE_GTEST_SUITES_LISTER "${CMAKE_CURRENT_LIST_DIR}/GTestSuitesList.cmake")

function(guidance_add_gtest_suites target)
  cmake_parse_arguments(ARG "" "LABEL" "E2E_SUITES" ${ARGN})
  set(list_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake")
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_include.cmake")
  set(working_directory "${CMAKE_CURRENT_BINARY_DIR}")
  set(label "${ARG_LABEL}")
  set(e2e_suites "${ARG_E2E_SUITES}")
  set(lister "${GUIDANCE_GTEST_SUITES_LISTER}")
  string(CONFIGURE [==[
set(binary [=[$<TARGET_FILE:@target@>]=])
set(list_file [=[@list_file@]=])
if(NOT EXISTS "${binary}")
  add_test([=[@target@_NOT_BUILT]=] [=[@target@_NOT_BUILT]=])
else()
  # Listed again when the binary or this file (its E2E_SUITES) changed since.
  if(NOT EXISTS "${list_file}" OR "${binary}" IS_NEWER_THAN "${list_file}" OR
     [=[@include_file@]=] IS_NEWER_THAN "${list_file}")
    set(label [=[@label@]=])
    set(e2e_suites [=[@e2e_suites@]=])
    set(working_directory [=[@working_directory@]=])
    include([=[@lister@]=])
  endif()
  include("${list_file}")
endif()
]==] content @ONLY)
  file(GENERATE OUTPUT "${include_file}" CONTENT "${content}")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
