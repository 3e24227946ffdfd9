# Inputs that once hung or crashed tapegrad-mnist are refused before training (checkpoint
# fields, JSON depth, model size, FIFOs, image sizes, empty sets, conflicting flags, stale temp
# files); tapegrad-inspect --diff compares every entry, timings aside. Real MNIST; skipped
# without it.
if(TARGET tapegrad-mnist AND TARGET tapegrad-inspect)
  add_test(NAME Programs.InputsThatHungOrCrashedTheDemoAreRefusedUpFront
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/programs/refusals.sh ${PROJECT_BINARY_DIR}
            ${PROJECT_SOURCE_DIR}/data/mnist)
  set_tests_properties(Programs.InputsThatHungOrCrashedTheDemoAreRefusedUpFront PROPERTIES
    TIMEOUT 300 SKIP_RETURN_CODE 77)
  add_test(NAME Programs.InspectDiffComparesIntegersRealsAndTextsButNotTimings
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/programs/inspect_diff.sh ${PROJECT_BINARY_DIR}
            ${PROJECT_SOURCE_DIR}/data/mnist)
  set_tests_properties(Programs.InspectDiffComparesIntegersRealsAndTextsButNotTimings PROPERTIES
    TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
