package io.kvpilot.api;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The service started as a separate JVM on the test classpath, output to a file, on a free port it reports. Tests
 * signal it as an orchestrator would: {@link Process#destroy()} is SIGTERM on Linux, {@code destroyForcibly} kill -9.
 */
final class ServiceProcess implements AutoCloseable {

    private static final Pattern PORT = Pattern.compile("started on port (\\d+)");

    final Process process;
    final Path log;
    private int port;

    private ServiceProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    static ServiceProcess start(String mainClass, Map<String, String> env, List<String> jvmOptions, String... args)
            throws IOException {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m",
                "-XX:TieredStopAtLevel=1", "--add-modules", "jdk.incubator.vector", "-Dai.djl.offline=true"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass, "--server.port=0",
                "--spring.main.banner-mode=off"));
        command.addAll(List.of(args));
        Path log = Files.createTempFile("kvpilot-process", ".log");
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        builder.environment().putAll(env);
        return new ServiceProcess(builder.start(), log);
    }

    String output() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(log unreadable: " + e + ")";
        }
    }

    /** Waits for the port in the log, then for readiness UP. */
    ServiceProcess awaitReady(Duration timeout) throws Exception {
        long until = System.nanoTime() + timeout.toNanos();
        HttpClient http = HttpClient.newHttpClient();
        while (System.nanoTime() < until && process.isAlive()) {
            if (port == 0) {
                Matcher m = PORT.matcher(output());
                if (m.find()) {
                    port = Integer.parseInt(m.group(1));
                }
            } else {
                try {
                    HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri("/actuator/health/readiness"))
                            .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() == 200) {
                        return this;
                    }
                } catch (IOException e) {
                    // not listening yet
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("the service did not become ready within " + timeout + ":\n" + output());
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly().waitFor();
        try {
            Files.deleteIfExists(log);
        } catch (IOException e) {
            // a temp file
        }
    }
}
