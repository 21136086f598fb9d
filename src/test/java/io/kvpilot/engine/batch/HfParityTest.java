package io.kvpilot.engine.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.model.ModelConfig;
import io.kvpilot.engine.model.Safetensors;
import io.kvpilot.engine.vector.VectorForwardPass;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Parity with Hugging Face transformers (docs/architecture.md §5) on every fixture under {@code src/test/resources/parity/}:
 * logits at every prompt position and over 32 greedy decode steps within 1e-3 of the reference, the same greedy
 * tokens — each sequence alone, and the fixture's 3 sequences (different lengths) prefilled and decoded together.
 */
class HfParityTest {

    static final Path FIXTURES = Path.of("src/test/resources/parity");
    static final float TOLERANCE = 1e-3f;

    static Stream<Path> fixtures() throws IOException {
        try (Stream<Path> dirs = Files.list(FIXTURES)) {
            List<Path> found = dirs.filter(d -> Files.exists(d.resolve("reference.json"))).sorted().toList();
            if (found.isEmpty()) {
                throw new IllegalStateException("no parity fixtures under " + FIXTURES.toAbsolutePath());
            }
            return found.stream();
        }
    }

    @Test
    void fixturesExist() throws IOException {
        assertFalse(fixtures().toList().isEmpty());
    }

    record Reference(int[] prompt, int[] greedy, float[][] prefill, float[][] decode) {}

    static List<Reference> references(Path fixture) throws IOException {
        JsonObject ref = ModelConfig.readJson(fixture.resolve("reference.json"));
        Path tensors = fixture.resolve("reference.safetensors");
        List<Reference> out = new ArrayList<>();
        JsonArray seqs = ref.getAsJsonArray("sequences");
        for (int k = 0; k < seqs.size(); k++) {
            JsonObject s = seqs.get(k).getAsJsonObject();
            out.add(new Reference(ints(s.getAsJsonArray("prompt_ids")), ints(s.getAsJsonArray("greedy_tokens")),
                    readF32(tensors, "seq" + k + ".prefill_logits"), readF32(tensors, "seq" + k + ".decode_logits")));
        }
        return out;
    }

    static Path checkpoint(Path fixture) {
        String c = ModelConfig.readJson(fixture.resolve("reference.json")).get("checkpoint").getAsString();
        return c.equals(".") ? fixture : Path.of(c); // other paths are relative to the repository root
    }

    @ParameterizedTest(name = "{0} solo")
    @MethodSource("fixtures")
    void eachSequenceAloneMatchesTransformers(Path fixture) throws IOException {
        List<Reference> refs = references(fixture);
        try (LlamaEngine engine = EngineLoader.load(checkpoint(fixture), EngineOptions.defaults())) {
            float worst = 0;
            for (int k = 0; k < refs.size(); k++) {
                worst = Math.max(worst, run(engine, List.of(refs.get(k)), fixture + " seq" + k));
            }
            System.out.printf("parity %s solo: max |Δlogit| %.2e%n", fixture.getFileName(), worst);
            // each sequence: its prompt in one Java pass, 32 decode steps
            assertTrue(engine.vectorPasses() == 33L * refs.size(), "passes in Java: " + engine.vectorPasses());
            assertTrue(engine.kvBytesInUse() == 0, "KV bytes left after release: " + engine.kvBytesInUse());
        }
    }

    @ParameterizedTest(name = "{0} batched")
    @MethodSource("fixtures")
    void threeSequencesBatchedMatchTheirSoloReferences(Path fixture) throws IOException {
        List<Reference> refs = references(fixture);
        try (LlamaEngine engine = EngineLoader.load(checkpoint(fixture), EngineOptions.defaults())) {
            float worst = run(engine, refs, fixture + " batched");
            // the three prompts (59 tokens at most) prefill in one Java pass, then 32 decode steps
            assertTrue(engine.vectorPasses() == 33, "passes in Java: " + engine.vectorPasses());
            System.out.printf("parity %s batched: max |Δlogit| %.2e%n", fixture.getFileName(), worst);
            assertTrue(engine.kvBytesInUse() == 0, "KV bytes left after release: " + engine.kvBytesInUse());
        }
    }

    /**
     * Without the Vector API kernels (a JVM without {@code jdk.incubator.vector}) decode runs on libtorch alone: the
     * batched attention of short caches and per-sequence attention, on one thread.
     */
    @ParameterizedTest(name = "{0} batched, libtorch only")
    @MethodSource("fixtures")
    void libtorchDecodeMatchesTheSameReferences(Path fixture) throws IOException {
        List<Reference> refs = references(fixture);
        try (LlamaEngine engine = EngineLoader.load(checkpoint(fixture), EngineOptions.defaults().withJavaForwardPass(false))) {
            assertFalse(engine.packedMatmul());
            float worst = run(engine, refs, fixture + " libtorch");
            assertTrue(engine.vectorPasses() == 0);
            System.out.printf("parity %s libtorch: max |Δlogit| %.2e%n", fixture.getFileName(), worst);
            assertTrue(engine.kvBytesInUse() == 0, "KV bytes left after release: " + engine.kvBytesInUse());
        }
    }

    /** libtorch decode with its weight matmuls split over two threads ({@code TwoLaneMatmul}). */
    @ParameterizedTest(name = "{0} batched, libtorch on two matmul lanes")
    @MethodSource("fixtures")
    void twoMatmulLanesMatchTheSameReferences(Path fixture) throws IOException {
        List<Reference> refs = references(fixture);
        try (LlamaEngine engine = EngineLoader.load(checkpoint(fixture),
                EngineOptions.defaults().withJavaForwardPass(false).withDecodeThreads(2))) {
            float worst = run(engine, refs, fixture + " two lanes");
            System.out.printf("parity %s two lanes: max |Δlogit| %.2e%n", fixture.getFileName(), worst);
            assertTrue(engine.kvBytesInUse() == 0, "KV bytes left after release: " + engine.kvBytesInUse());
        }
    }

    /**
     * Each reference twice, so a decode step has 6 rows and the prefill 118, in Java ({@link VectorForwardPass}) on one
     * thread and on two lanes. The solo and batched tests above run in Java too: the tests' JVM has the Vector API.
     */
    @ParameterizedTest(name = "{0} six batched, packed kernel")
    @MethodSource("fixtures")
    void sixSequencesOnThePackedKernelMatchTheReferences(Path fixture) throws IOException {
        List<Reference> refs = new ArrayList<>(references(fixture));
        refs.addAll(List.copyOf(refs));
        for (int threads : new int[] {1, 2}) {
            try (LlamaEngine engine = EngineLoader.load(checkpoint(fixture),
                    EngineOptions.defaults().withDecodeThreads(threads))) {
                assertTrue(engine.packedMatmul(), "the tests run with --add-modules jdk.incubator.vector (pom.xml)");
                float worst = run(engine, refs, fixture + " packed, " + threads + " decode threads");
                // six short prompts (118 tokens) prefill in one Java pass, then 32 decode steps
                assertTrue(engine.vectorPasses() == 33, "passes in Java: " + engine.vectorPasses());
                System.out.printf("parity %s packed, %d threads: max |Δlogit| %.2e%n", fixture.getFileName(), threads,
                        worst);
                assertTrue(engine.kvBytesInUse() == 0, "KV bytes left after release: " + engine.kvBytesInUse());
            }
        }
    }

    /** Prefills and decodes {@code refs} as one batch; returns the largest |Δlogit| seen. */
    static float run(LlamaEngine engine, List<Reference> refs, String what) {
        List<Sequence> batch = new ArrayList<>();
        for (int k = 0; k < refs.size(); k++) {
            int steps = refs.get(k).decode().length;
            batch.add(engine.newSequence("s" + k, refs.get(k).prompt(),
                    new SamplingParams(0, 1, 0, 0L, steps + 1, List.of(), true), KvCompressionSpec.NONE));
        }
        float worst = 0;
        List<float[][]> prefill = engine.prefillWithLogits(batch);
        for (int k = 0; k < refs.size(); k++) {
            float[][] expected = refs.get(k).prefill();
            for (int t = 0; t < expected.length; t++) {
                worst = Math.max(worst, check(expected[t], prefill.get(k)[t], what + " s" + k + " prefill position " + t));
            }
        }
        int steps = refs.get(0).decode().length;
        for (int i = 0; i < steps; i++) {
            List<float[]> rows = engine.decodeWithLogits(batch);
            for (int k = 0; k < refs.size(); k++) {
                worst = Math.max(worst, check(refs.get(k).decode()[i], rows.get(k), what + " s" + k + " decode step " + i));
            }
        }
        for (int k = 0; k < refs.size(); k++) {
            int[] greedy = refs.get(k).greedy();
            int[] got = java.util.Arrays.copyOf(batch.get(k).generatedIds(), greedy.length);
            assertArrayEquals(greedy, got, what + " s" + k + ": greedy tokens differ");
            engine.release(batch.get(k));
        }
        return worst;
    }

    static float check(float[] expected, float[] actual, String where) {
        float max = 0;
        for (int v = 0; v < expected.length; v++) {
            max = Math.max(max, Math.abs(expected[v] - actual[v]));
        }
        assertTrue(max <= TOLERANCE, where + ": max |Δlogit| " + max + " > " + TOLERANCE);
        return max;
    }

    static int[] ints(JsonArray a) {
        int[] out = new int[a.size()];
        int i = 0;
        for (JsonElement e : a) {
            out[i++] = e.getAsInt();
        }
        return out;
    }

    /** One F32 tensor of a safetensors file as rows. */
    static float[][] readF32(Path file, String name) throws IOException {
        Safetensors.TensorInfo t = Safetensors.readHeader(file).get(name);
        assertTrue(t != null && t.dtype().equals("F32") && t.shape().length == 2, file + ": no F32 matrix " + name);
        ByteBuffer buf = ByteBuffer.allocate((int) (t.end() - t.begin())).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (buf.hasRemaining() && ch.read(buf, t.begin() + buf.position()) > 0) {}
        }
        buf.flip();
        int rows = (int) t.shape()[0], cols = (int) t.shape()[1];
        float[][] out = new float[rows][cols];
        for (float[] row : out) {
            buf.asFloatBuffer().get(row);
            buf.position(buf.position() + cols * 4);
        }
        return out;
    }
}
