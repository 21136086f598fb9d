# Sourced by the scripts that run KVPilot's Java commands outside the service (bench/*.sh, training/**/*.sh), from the
# repository root: compiles the classes and writes the dependency classpath to cp.txt unless both are already there.
[ -f cp.txt ] && [ -d target/classes ] || {
    mvn -B -q -DskipTests compile
    mvn -B -q dependency:build-classpath -Dmdep.outputFile=cp.txt
}
