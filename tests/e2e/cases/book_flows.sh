# The book's chapter-3 flows (flows/*.lua), run through the binary.

test_hello() {
  lf run "$ROOT/flows/hello.lua"
  expect_rc 0
  expect_out "Workflow starting (run-id 1): HelloWorldFlow/1"
  expect_out "[1/start/1 (pid "
  expect_out "] This is start step"
  expect_out "] Hello World!"
  expect_out "] This is end step"
  expect_out "Done! Run HelloWorldFlow/1 finished successfully."
  # Every task line carries a timestamp and the run/step/task prefix.
  if grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} ' "$out" | grep -q .; then
    fail "a line without a timestamp: $(grep -vE '^[0-9]{4}-' "$out" | head -n 1)"
  fi
  lf logs HelloWorldFlow/1/hello
  expect_rc 0
  expect_eq "$OUT" "Hello World!"
}

test_counter() {
  lf run "$ROOT/flows/counter.lua"
  expect_rc 0
  expect_out "The count is	0	before incrementing"
  expect_out "The final count is	2"
  lf dump CounterFlow/1/end
  expect_rc 0
  expect_out "CounterFlow/1/end/3"
  expect_out "count"
  expect_out "int 2"
  lf dump CounterFlow/1/start/1
  expect_out "int 0"
}

test_counter_branch() {
  lf run "$ROOT/flows/counter_branch.lua" --creature seal
  expect_rc 0
  expect_out "count from add_one	1"
  expect_out "count from add_two	2"
  expect_out "The creature is	seal"
  expect_out "The final count is	2"
  # pids of the two branches differ: one process per task
  local p1 p2
  p1=$(sed -n 's/.*\[1\/add_one\/[0-9]* (pid \([0-9]*\)).*/\1/p' "$out" | head -n 1)
  p2=$(sed -n 's/.*\[1\/add_two\/[0-9]* (pid \([0-9]*\)).*/\1/p' "$out" | head -n 1)
  [ -n "$p1" ] && [ -n "$p2" ] && [ "$p1" != "$p2" ] || fail "branch pids: '$p1' '$p2'"
}

test_counter_branch_helper() {
  lf run "$ROOT/flows/counter_branch_helper.lua"
  expect_rc 0
  expect_out "The creature is	dog"
  expect_out "The final count	2"
}

test_foreach() {
  lf run "$ROOT/flows/foreach.lua"
  expect_rc 0
  expect_out "Analyzing	bird"
  expect_out "Analyzing	mouse"
  expect_out "Analyzing	dog"
  expect_out "mouse	won!"
}

test_wide_foreach_needs_flag() {
  lf run "$ROOT/flows/wide_foreach.lua"
  expect_rc 1
  expect_err "step 'start': foreach over 'ints' has 1000 items, more than the limit of 100; raise it with --max-num-splits 1000"
  grep -q "multiply" "$out" && fail "multiply tasks ran"
}

test_wide_foreach() {
  lf run "$ROOT/flows/wide_foreach.lua" --max-num-splits 1000 --max-workers 16
  expect_rc 0
  expect_out "Total sum is	499500000"
  lf dump WideForeachFlow/1/join
  expect_out "int 499500000"
}

test_parameters() {
  lf run "$ROOT/flows/parameters.lua"
  expect_rc 2
  expect_err "missing required parameter --creature (Specify a creature)"
  lf run "$ROOT/flows/parameters.lua" --creature seal
  expect_rc 0
  expect_out "seal	is a string of	4	characters"
  expect_out "Count is an integer: 1+1=2"
  expect_out "Ratio is a	nil	whose value is	nil"
  LUAFLOW_RUN_CREATURE=dinosaur lf run "$ROOT/flows/parameters.lua" --ratio 0.25
  expect_rc 0
  expect_out "dinosaur	is a string of	8	characters"
  expect_out "Ratio is a	float	whose value is	0.25"
  LUAFLOW_RUN_CREATURE=dinosaur lf run "$ROOT/flows/parameters.lua" --creature otter --count 10 --ratio 0.3
  expect_rc 0
  expect_out "otter	is a string of"
  expect_out "Count is an integer: 10+1=11"
  lf run "$ROOT/flows/parameters.lua" --creature seal --count ten
  expect_rc 2
  expect_err "parameter --count: 'ten' is not an integer"
  lf run "$ROOT/flows/parameters.lua" --creature seal --colour red
  expect_rc 2
  expect_err "unknown option --colour for flow ParameterFlow (its parameters: --creature, --count, --ratio)"
  lf run "$ROOT/flows/parameters.lua" --help
  expect_rc 0
  expect_out "--creature TEXT"
  expect_out "Specify a creature [required]"
  expect_out "--count INTEGER"
  expect_out "[default: 1]"
  # the parameters section comes before the run options
  local pl ol
  pl=$(grep -n -- '--creature' "$out" | head -n1 | cut -d: -f1)
  ol=$(grep -n -- '--max-workers' "$out" | head -n1 | cut -d: -f1)
  [ "$pl" -lt "$ol" ] || fail "parameters are not listed first"
}

test_json_parameter() {
  lf run "$ROOT/flows/json_parameter.lua"
  expect_rc 0
  expect_out "key	some	value	default"
  lf run "$ROOT/flows/json_parameter.lua" --mapping '{"mykey": "myvalue", "n": 3}'
  expect_rc 0
  expect_out "key	mykey	value	myvalue"
  expect_out "key	n	value	3"
  lf run "$ROOT/flows/json_parameter.lua" --mapping '{"mykey": }'
  expect_rc 2
  expect_err "parameter --mapping: invalid JSON at line 1"
}

test_csv_include_file() {
  cp "$ROOT/tests/fixtures/test.csv" "$CASE_DIR/test.csv"
  lf run "$ROOT/flows/csv_file.lua" --csv test.csv
  expect_rc 0
  expect_out "row 0: first | second | third"
  expect_out "row 1: a | b | c"
  expect_out 'row 2: quoted, with comma | say "hi" | x'
  # the snapshot survives the file
  rm "$CASE_DIR/test.csv"
  lf dump CSVFileFlow/1/start
  expect_out "data"
  expect_out "first,second,third"
  lf run "$ROOT/flows/csv_file.lua" --csv missing.csv
  expect_rc 2
  expect_err "parameter --csv: no file 'missing.csv'"
}

# Chapter 4: retry, timeout, catch.

test_book_retry_flow() {
  lf run "$ROOT/flows/retry.lua"
  expect_rc 0
  expect_out "Lucky you!"
  expect_out "Phew!"
}

test_book_timeout_flow() {
  lf run "$ROOT/flows/timeout.lua"
  expect_rc 0
  expect_out "success!"
}

test_book_catch_flow_in_exec_mode() {
  LUAFLOW_FORKSERVER=0 lf run "$ROOT/flows/catch_divide_by_zero.lua" --with timeout:minutes=1
  expect_rc 0
  expect_out "results	10 5"
}

# Listings 3.10-3.12: train, then predict with the latest successful training run.
test_book_classifier_train_and_predict() {
  lf run "$ROOT/flows/classifier_predict.lua" --vector '[0, 0, 0, 0]'
  expect_rc 1
  expect_err "no successful ClassifierTrainFlow run: run flows/classifier_train.lua first"
  lf run "$ROOT/flows/classifier_train.lua"
  expect_rc 0
  expect_out "accuracy 1.00"
  lf run "$ROOT/flows/classifier_predict.lua" --vector '[0.2, 3.8, 4.1, 3.9]'
  expect_rc 0
  expect_out "Model	nearest-centroid	from	ClassifierTrainFlow/1	predicts class	3"
  lf dump ClassifierPredictFlow/2/end
  expect_out 'string(21) "ClassifierTrainFlow/1"'
}
