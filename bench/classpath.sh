# Sourced by the scripts that run KVPilot's Java commands outside the service (bench/*.sh, training/**/*.sh, the
# commands of docs/benchmarks.md), from the repository root. The evaluation harness and the benchmarks live in their
# own source set, src/bench/java, compiled with the tests (never into target/kvpilot.jar): this compiles the main and
# test sources and writes the dependency classpath to cp.txt unless both are already there, then sets KVPILOT_CP to
# the classpath the commands run on.
[ -f cp.txt ] && [ -d target/test-classes/io/kvpilot/eval ] || {
    mvn -B -q -DskipTests test-compile
    mvn -B -q dependency:build-classpath -Dmdep.outputFile=cp.txt
}
KVPILOT_CP="target/test-classes:target/classes:$(cat cp.txt)"
