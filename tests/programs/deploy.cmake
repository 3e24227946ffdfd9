# A model saved by tapegrad-mnist classifies the real MNIST test set through tapegrad-predict
# and through ONNX Runtime (onnxruntime-node) with the demo's test accuracy (deploy_mnist.sh).
# Skipped without MNIST; the ONNX Runtime half is skipped, after the rest, without node or
# onnxruntime-node.
if(TARGET tapegrad-predict AND TARGET tapegrad-mnist)
  add_test(NAME Programs.DeployedMnistModelKeepsTheDemoAccuracyInPredictAndOnnxRuntime
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/deploy_mnist.sh ${PROJECT_BINARY_DIR}
            ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/data/mnist)
  set_tests_properties(Programs.DeployedMnistModelKeepsTheDemoAccuracyInPredictAndOnnxRuntime
    PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT OPENBLAS_NUM_THREADS=1)
endif()

# tapegrad-predict's IDX and --labels handling and its refusals (deploy_predict_inputs.sh).
if(TARGET tapegrad-predict AND TARGET tapegrad-mnist)
  add_test(NAME Programs.PredictScoresIdxFilesAgainstLabelsAndRefusesBadOnes
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/deploy_predict_inputs.sh ${PROJECT_BINARY_DIR}
            ${PROJECT_SOURCE_DIR}/data/mnist)
  set_tests_properties(Programs.PredictScoresIdxFilesAgainstLabelsAndRefusesBadOnes PROPERTIES
    TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT OPENBLAS_NUM_THREADS=1)
endif()
