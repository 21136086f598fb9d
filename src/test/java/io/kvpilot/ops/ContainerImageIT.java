package io.kvpilot.ops;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The OCI image tarball Jib builds in {@code mvn -Pimage verify} (target/kvpilot-image.tar), read as a registry or
 * container runtime would: index → manifest → config and layers. Runs as a failsafe integration test after the
 * {@code package} phase built the tarball.
 */
class ContainerImageIT {

    private static final Path IMAGE = Path.of("target/kvpilot-image.tar");
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode config;
    /** layer name (the history comment Jib gives it) → paths it holds */
    private static final Map<String, List<String>> LAYERS = new LinkedHashMap<>();
    private static final Map<String, String> SMALL_FILES = new HashMap<>();

    @BeforeAll
    static void readImage() throws IOException {
        assertThat(IMAGE).as("built by jib:buildTar in mvn -Pimage package").exists();
        Map<String, byte[]> blobs = new HashMap<>();
        readTar(Files.newInputStream(IMAGE), (name, in) -> {
            if (name.equals("index.json") || name.startsWith("blobs/")) {
                byte[] head = readAtMost(in, 1 << 20);
                if (head != null) {
                    blobs.put(name, head);
                }
            }
        });
        JsonNode index = JSON.readTree(blobs.get("index.json"));
        JsonNode manifest = JSON.readTree(blobs.get(blob(index.at("/manifests/0/digest").asText())));
        assertThat(manifest.path("mediaType").asText()).isEqualTo("application/vnd.oci.image.manifest.v1+json");
        config = JSON.readTree(blobs.get(blob(manifest.at("/config/digest").asText())));

        List<String> names = new ArrayList<>();
        config.path("history").forEach(h -> {
            if (!h.path("empty_layer").asBoolean(false)) {
                names.add(h.path("comment").asText(h.path("created_by").asText()));
            }
        });
        List<String> digests = new ArrayList<>();
        manifest.path("layers").forEach(l -> digests.add(blob(l.path("digest").asText())));
        assertThat(names).as("one history entry per layer").hasSameSizeAs(digests);
        readTar(Files.newInputStream(IMAGE), (name, in) -> {
            int layer = digests.indexOf(name);
            if (layer >= 0) {
                List<String> paths = new ArrayList<>();
                readTar(new GZIPInputStream(in), (path, content) -> {
                    paths.add(path);
                    if (path.endsWith("openjdk/release")) {
                        SMALL_FILES.put(path, new String(readAtMost(content, 1 << 16), StandardCharsets.UTF_8));
                    }
                });
                LAYERS.put(names.get(layer), paths);
            }
        });
    }

    @Test
    void runsAsTheNonRootUserFromTheAppDirectory() {
        assertThat(config.at("/config/User").asText()).isEqualTo("10001:10001");
        assertThat(config.at("/config/WorkingDir").asText()).isEqualTo("/app");
        assertThat(config.path("architecture").asText()).isEqualTo("amd64");
        assertThat(config.path("os").asText()).isEqualTo("linux");
    }

    @Test
    void entrypointStartsTheServiceWithTheVectorApi() {
        List<String> entrypoint = new ArrayList<>();
        config.at("/config/Entrypoint").forEach(e -> entrypoint.add(e.asText()));
        assertThat(entrypoint.get(0)).isEqualTo("java");
        assertThat(entrypoint).contains("--add-modules=jdk.incubator.vector", "-Dai.djl.offline=true",
                "io.kvpilot.KvPilotApplication");
    }

    @Test
    void environmentCarriesTheServingFlagsAndAContainerAwareHeap() {
        Map<String, String> env = new HashMap<>();
        config.at("/config/Env").forEach(e -> {
            String[] kv = e.asText().split("=", 2);
            env.put(kv[0], kv[1]);
        });
        assertThat(env).containsEntry("OMP_WAIT_POLICY", "PASSIVE")
                .containsEntry("KVPILOT_MODEL_PATH", "/app/models/kvpilot-mini")
                .containsEntry("DJL_CACHE_DIR", "/tmp/djl");
        assertThat(env.get("JDK_JAVA_OPTIONS")).contains("-XX:MaxRAMPercentage=", "-XX:+ExitOnOutOfMemoryError");
        assertThat(env.get("PATH")).as("java comes from the base image").contains("/opt/java/openjdk/bin");
    }

    @Test
    void exposesTheServingPort() {
        assertThat(config.at("/config/ExposedPorts").has("8080/tcp")).isTrue();
    }

    @Test
    void layersSeparateRuntimeDependenciesNativeLibrariesApplicationAndModel() {
        assertThat(LAYERS.keySet()).contains("dependencies", "native libraries", "resources", "classes", "model");
        assertThat(LAYERS.get("native libraries")).singleElement().satisfies(p ->
                assertThat(p).matches("/?app/libs/pytorch-native-cpu-.*\\.jar"));
        assertThat(LAYERS.get("dependencies")).noneMatch(p -> p.contains("pytorch-native-cpu"))
                .anyMatch(p -> p.contains("spring-boot-"));
        assertThat(LAYERS.get("classes")).anyMatch(p -> p.endsWith("app/classes/io/kvpilot/KvPilotApplication.class"));
        assertThat(LAYERS.get("resources")).anyMatch(p -> p.endsWith("app/resources/application.yaml"));
        assertThat(LAYERS.get("model")).anyMatch(p -> p.endsWith("app/models/kvpilot-mini/config.json"))
                .anyMatch(p -> p.endsWith(".safetensors"));
        // the model is in no other layer: replacing it rebuilds one layer
        LAYERS.forEach((name, paths) -> {
            if (!name.equals("model")) {
                assertThat(paths).as(name).noneMatch(p -> p.contains("app/models/"));
            }
        });
    }

    @Test
    void imageCarriesEveryLibraryTheRunnableJarCarries() throws IOException {
        // the Spring Boot jar's BOOT-INF/lib is the runtime class path; a jar missing from the image fails only at
        // run time (jinjava's YAML filter needs jackson-dataformat-yaml while the model's chat template loads)
        List<String> jarLibraries = new ArrayList<>();
        try (java.util.zip.ZipFile jar = new java.util.zip.ZipFile("target/kvpilot.jar")) {
            jar.stream().map(java.util.zip.ZipEntry::getName)
                    .filter(n -> n.startsWith("BOOT-INF/lib/") && n.endsWith(".jar"))
                    .map(n -> n.substring("BOOT-INF/lib/".length()))
                    .filter(n -> !n.startsWith("spring-boot-jarmode-tools"))
                    .forEach(jarLibraries::add);
        }
        List<String> imageLibraries = LAYERS.values().stream().flatMap(List::stream)
                .filter(p -> p.contains("app/libs/")).map(p -> p.substring(p.lastIndexOf('/') + 1))
                // starters hold no classes; Spring Boot's jar leaves them out
                .filter(n -> !n.startsWith("spring-boot-starter-")).toList();
        assertThat(jarLibraries).hasSizeGreaterThan(50);
        assertThat(imageLibraries).containsExactlyInAnyOrderElementsOf(jarLibraries);
    }

    @Test
    void baseLayerHoldsAJavaRuntimeWithTheVectorModuleAndTheLibrariesLibtorchNeeds() {
        List<String> base = LAYERS.values().iterator().next();
        assertThat(base).anyMatch(p -> p.endsWith("opt/java/openjdk/bin/java"))
                .anyMatch(p -> p.endsWith("lib64/ld-linux-x86-64.so.2"))
                .anyMatch(p -> p.endsWith("libstdc++.so.6"))
                .anyMatch(p -> p.endsWith("libgcc_s.so.1"))
                .anyMatch(p -> p.endsWith("etc/passwd"));
        String release = SMALL_FILES.values().stream().findFirst().orElseThrow();
        assertThat(release).contains("JAVA_VERSION=\"17").contains("jdk.incubator.vector").contains("java.desktop");
    }

    // --- a minimal ustar/PAX reader (entries only, no extraction)

    private static String blob(String digest) {
        return "blobs/" + digest.replace(':', '/');
    }

    private interface EntryReader {
        void accept(String name, InputStream content) throws IOException;
    }

    private static void readTar(InputStream raw, EntryReader reader) throws IOException {
        try (InputStream in = new BufferedInputStream(raw, 1 << 16)) {
            byte[] header = new byte[512];
            String paxPath = null;
            while (in.readNBytes(header, 0, 512) == 512 && header[0] != 0) {
                String name = field(header, 0, 100);
                long size = Long.parseLong(field(header, 124, 12).trim().isEmpty() ? "0"
                        : field(header, 124, 12).trim(), 8);
                char type = (char) header[156];
                String prefix = field(header, 345, 155);
                if (!prefix.isEmpty()) {
                    name = prefix + "/" + name;
                }
                BoundedInput content = new BoundedInput(in, size);
                if (type == 'x') {
                    paxPath = paxPath(new String(content.readAllBytes(), StandardCharsets.UTF_8));
                } else {
                    if (paxPath != null) {
                        name = paxPath;
                        paxPath = null;
                    }
                    if (type == '0' || type == '\0') {
                        reader.accept(name.startsWith("./") ? name.substring(2) : name, content);
                    }
                }
                content.skipRest();
                long padding = (512 - size % 512) % 512;
                in.skipNBytes(padding);
            }
        }
    }

    private static String paxPath(String records) {
        for (String record : records.split("\n")) {
            int eq = record.indexOf(" path=");
            if (eq >= 0) {
                return record.substring(eq + " path=".length());
            }
        }
        return null;
    }

    private static String field(byte[] header, int offset, int length) {
        int end = offset;
        while (end < offset + length && header[end] != 0) {
            end++;
        }
        return new String(header, offset, end - offset, StandardCharsets.US_ASCII);
    }

    private static byte[] readAtMost(InputStream in, int limit) throws IOException {
        byte[] bytes = in.readNBytes(limit + 1);
        return bytes.length > limit ? null : bytes;
    }

    /** One entry's bytes of the enclosing tar stream. */
    private static final class BoundedInput extends InputStream {
        private final InputStream in;
        private long left;

        BoundedInput(InputStream in, long size) {
            this.in = in;
            this.left = size;
        }

        @Override
        public int read() throws IOException {
            if (left <= 0) {
                return -1;
            }
            int b = in.read();
            if (b >= 0) {
                left--;
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            if (left <= 0) {
                return -1;
            }
            int n = in.read(buffer, offset, (int) Math.min(length, left));
            if (n > 0) {
                left -= n;
            }
            return n;
        }

        @Override
        public void close() {
            // the enclosing stream stays open
        }

        void skipRest() throws IOException {
            in.skipNBytes(left);
            left = 0;
        }
    }
}
