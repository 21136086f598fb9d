package io.kvpilot.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvpilot.kvcache.KvCompressionSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * 10,000 decode steps with sequences of random lengths starting and finishing (a continuous batch of up to 8):
 * native RSS stays within 5 % of where it was after warm-up, and the KV pool is empty at the end.
 */
class NoLeakTest {

    /** RSS minus the committed Java heap, after a GC: what native (libtorch) allocations hold. */
    static long nativeKib() {
        System.gc();
        return EngineBenchmark.rssKib() - Runtime.getRuntime().totalMemory() / 1024;
    }

    @Test
    void rssFlatOverTenThousandDecodeSteps() {
        Path model = Path.of("src/test/resources/parity/llama-f32");
        try (LlamaEngine engine = EngineLoader.load(model, EngineOptions.defaults())) {
            Random random = new Random(3);
            List<Sequence> running = new ArrayList<>();
            int[] started = {0};
            long warmRss = 0;
            int total = 12_000, warmup = 2_000;
            for (int step = 0; step < total; step++) {
                while (running.size() < 6) {
                    int[] prompt = new int[1 + random.nextInt(60)];
                    for (int i = 0; i < prompt.length; i++) {
                        prompt[i] = 3 + random.nextInt(500);
                    }
                    Sequence s = engine.newSequence("s" + started[0]++, prompt,
                            new SamplingParams(1.0, 0.9, 40, (long) step, 1 + random.nextInt(150), List.of(), true),
                            KvCompressionSpec.NONE);
                    engine.prefill(List.of(s));
                    running.add(s);
                }
                engine.decode(running);
                running.removeIf(s -> {
                    if (s.isFinished()) {
                        assertTrue(s.kvBytes() >= s.kvBytesUncompressed(), "dense cache holds at least its tokens");
                        engine.release(s);
                        return true;
                    }
                    return false;
                });
                if (step == warmup) {
                    warmRss = nativeKib();
                }
            }
            running.forEach(engine::release);
            long endRss = nativeKib();
            System.out.printf("native RSS after %d warm-up steps %d KiB, after %d more %d KiB (%+.1f %%), %d sequences%n",
                    warmup, warmRss, total - warmup, endRss, 100.0 * (endRss - warmRss) / warmRss, started[0]);
            assertTrue(endRss <= warmRss * 1.05, "RSS grew from " + warmRss + " to " + endRss + " KiB");
            assertEquals(0, engine.kvBytesInUse());
            assertEquals(0, engine.liveSequences());
        }
    }
}
