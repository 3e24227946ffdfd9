# tapegrad-csv on scikit-learn's real data sets (Debian's python3-sklearn; skipped without it):
# diabetes regression (test R² >= 0.45, and the OLS baseline on the same split) and breast
# cancer classification (test accuracy >= 0.96), with fixed seeds and flags.
if(TARGET tapegrad-csv)
  add_test(NAME Programs.CsvReachesTheTargetsOnSklearnDiabetesAndBreastCancer
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/csv.sh ${PROJECT_BINARY_DIR}
            /usr/lib/python3/dist-packages/sklearn/datasets/data)
  set_tests_properties(Programs.CsvReachesTheTargetsOnSklearnDiabetesAndBreastCancer PROPERTIES
    TIMEOUT 600 SKIP_RETURN_CODE 77 ENVIRONMENT OPENBLAS_NUM_THREADS=1)
endif()
