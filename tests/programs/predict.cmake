# tapegrad-predict on a model file that tapegrad-mnist --save-model wrote: real MNIST test
# images as PNG files are classified as their labels say (at least 16 of 20 after a short run),
# one line each, and a training checkpoint (--save) is refused as one. Skipped without MNIST or
# while tapegrad-mnist has no --save-model.
if(TARGET tapegrad-predict AND TARGET tapegrad-mnist)
  add_test(NAME Programs.PredictClassifiesMnistPngsWithASavedModel
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/predict.sh ${PROJECT_BINARY_DIR}
            ${PROJECT_SOURCE_DIR}/data/mnist)
  set_tests_properties(Programs.PredictClassifiesMnistPngsWithASavedModel PROPERTIES
    TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT OPENBLAS_NUM_THREADS=1)
endif()
