set(FUZZ_SECONDS 15 CACHE STRING "seconds each fuzz target runs in ctest")

# Test helpers. Every test is registered with ctest and carries a label:
#   unit         cmocka tests beside the code; also run under qemu by `make cross`
#   integration  tests that start real binaries / brokers / emulators
#   fuzz         libFuzzer targets run for a bounded time (REGULARS_FUZZ builds)

# rg_unit_test(NAME SOURCES a.c b.c LIBS x y)
function(rg_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} rg::cmocka)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

# rg_fuzz_target(NAME SOURCES f.c LIBS x y CORPUS dir SECONDS n)
# Built only with REGULARS_FUZZ=ON; the test runs libFuzzer for SECONDS over
# the seed CORPUS (copied, so seeds in the tree are never modified).
function(rg_fuzz_target name)
  cmake_parse_arguments(F "" "CORPUS;SECONDS" "SOURCES;LIBS" ${ARGN})
  if(NOT REGULARS_FUZZ)
    return()
  endif()
  if(NOT F_SECONDS)
    set(F_SECONDS ${FUZZ_SECONDS})
  endif()
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  set(work ${CMAKE_CURRENT_BINARY_DIR}/${name}-corpus)
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
            sh -c "rm -rf '${work}' && mkdir -p '${work}' && cp -r '${F_CORPUS}/.' '${work}/' 2>/dev/null; exec \"$0\" -max_total_time=${F_SECONDS} -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 '${work}'"
            $<TARGET_FILE:${name}>)
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT ${F_SECONDS}0)
endfunction()
