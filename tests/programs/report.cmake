# The demo's pictures from a short real run: the confusion matrix's per-class accuracies match
# the counts in metrics.json and it has its axis titles, the training curves have round ticks
# and a learning-rate panel, the misclassified grid is there, and the --graph DOT file has a
# cluster titled with each layer of the printed summary. Skipped without MNIST or python3.
if(TARGET tapegrad-mnist)
  add_test(NAME Programs.DemoPicturesHaveRoundTicksAxisTitlesAndLayerNames
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/report.sh ${PROJECT_BINARY_DIR}
            ${PROJECT_SOURCE_DIR}/data/mnist)
  set_tests_properties(Programs.DemoPicturesHaveRoundTicksAxisTitlesAndLayerNames PROPERTIES
    TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT OPENBLAS_NUM_THREADS=1)
endif()
