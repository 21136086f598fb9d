package io.kvpilot.serving;

import io.kvpilot.engine.ChatMessage;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.ModelInfo;
import io.kvpilot.engine.batch.Sampler;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.TextCodec;
import io.kvpilot.engine.template.ChatTemplate;
import io.kvpilot.engine.template.RenderLimits;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvFootprint;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A model-free engine for scheduler and API tests: one character per token, the next token a hash of the sequence so
 * far (so outputs are deterministic and independent of batching), KV held the way the real engine holds it
 * ({@link FakeKvCache}: a dense cache of whole 32-token blocks for the prompt, compaction to {@code (1 - ratio)} after
 * prefill and every 32 decode steps, growth by the generated tokens, quantized entries at {@code bits / 16} of the
 * bytes) in a pool with a hard budget that fails the sequence it cannot serve, and knobs to slow steps down or make
 * them fail.
 */
public class FakeEngine implements GenerationEngine {

    /**
     * The fake model's chat template, rendered by the real interpreter: {@code <role>content\n} per message, then
     * {@code <assistant>}; like many real templates it refuses a system message that is not the first.
     */
    public static final ChatTemplate CHAT_TEMPLATE = ChatTemplate.compile("""
            {% for m in messages %}
            {% if m.role == 'system' and not loop.first %}{{ raise_exception('System messages must come first') }}{% endif %}
            <{{ m.role }}>{{ m.content }}
            {% endfor %}
            {% if add_generation_prompt %}<assistant>{% endif %}""");

    public static final int KV_BYTES_PER_TOKEN = 64;
    private static final int BOS = 1;
    private static final int EOS = 2;

    private final ModelInfo info;
    private final Map<String, Sequence> live = new ConcurrentHashMap<>();
    public final List<Integer> decodeBatchSizes = new CopyOnWriteArrayList<>();
    public final Set<String> threads = ConcurrentHashMap.newKeySet();
    public final List<String> released = new CopyOnWriteArrayList<>();
    public final AtomicInteger failingSteps = new AtomicInteger();
    /** Sequences to finish with ERROR at their next step without throwing (as an engine does per sequence). */
    public final AtomicInteger quietFailures = new AtomicInteger();
    /** Sequences whose next token is sampled from a row of NaN logits (a corrupt model), which the sampler refuses. */
    public final AtomicInteger nanLogits = new AtomicInteger();
    public volatile long stepMillis;
    /** The pool's hard limit; an allocation past it fails its sequence with ERROR, as the real engine's does. */
    public volatile long poolBudgetBytes = Long.MAX_VALUE;
    /** Scales {@link #predictKv}'s answer, to stand for a wrong predictor (1: exact). */
    public volatile double predictionScale = 1.0;
    /** Refuses every new sequence at admission (what an engine does with settings only it can check then). */
    public volatile boolean refuseNewSequences;
    private final Map<Sequence, FakeKvCache> caches = new ConcurrentHashMap<>();
    private final FakeKvCache.Pool pool = new FakeKvCache.Pool(() -> poolBudgetBytes);

    public FakeEngine(int contextLength) {
        this.info = new ModelInfo("fake-model", "FakeForCausalLM", contextLength, 128, 2, 2, 8, KV_BYTES_PER_TOKEN,
                1000);
    }

    /** The most KV bytes live sequences held together at any instant. */
    public long peakBytesInUse() {
        return pool.peak();
    }

    @Override
    public ModelInfo modelInfo() {
        return info;
    }

    @Override
    public TextCodec textCodec() {
        return CODEC;
    }

    @Override
    public Sequence newSequence(String id, int[] promptIds, SamplingParams sampling, KvCompressionSpec compression) {
        touch();
        if (compression.method().equals("unknown_method") || refuseNewSequences) {
            throw new IllegalArgumentException("unknown compression method 'unknown_method'");
        }
        return new Sequence(id, promptIds, sampling, compression);
    }

    @Override
    public void prefill(List<Sequence> sequences) {
        touch();
        step();
        for (Sequence s : sequences) {
            live.put(s.id(), s);
            FakeKvCache cache = new FakeKvCache(pool, s.compression(), FakeKvCache.DECODE_INTERVAL);
            caches.put(s, cache);
            if (!cache.prefill(s.promptLength())) {
                fail(s);
                continue;
            }
            next(s);
        }
    }

    @Override
    public void decode(List<Sequence> batch) {
        touch();
        decodeBatchSizes.add(batch.size());
        step();
        for (Sequence s : batch) {
            if (!s.isFinished()) {
                FakeKvCache cache = caches.get(s);
                if (!cache.decodeStep()) {
                    fail(s);
                    continue;
                }
                next(s);
                if (!s.isFinished() && !cache.boundIfDue()) {
                    fail(s);
                }
            }
        }
    }

    @Override
    public KvFootprint predictKv(KvCompressionSpec spec, int promptTokens, int maxTokens) {
        if (spec.method().equals("unknown_method")) {
            throw new IllegalArgumentException("unknown compression method 'unknown_method'");
        }
        KvFootprint exact = FakeKvCache.replay(spec, promptTokens, maxTokens);
        return predictionScale == 1.0 ? exact : new KvFootprint((long) (exact.peakBytes() * predictionScale),
                (long) (exact.endBytes() * predictionScale), false);
    }

    @Override
    public void release(Sequence sequence) {
        touch();
        FakeKvCache cache = caches.remove(sequence);
        if (cache != null) {
            sequence.recordKvPeak(cache.peak(), -1);
            cache.free();
        }
        if (live.remove(sequence.id()) != null) {
            released.add(sequence.id());
        }
    }

    @Override
    public long kvBytesInUse() {
        return pool.used();
    }

    private void fail(Sequence s) {
        s.finish(FinishReason.ERROR);
        FakeKvCache cache = caches.get(s);
        s.recordKvPeak(cache.peak(), -1);
        cache.free();
    }

    @Override
    public void close() {}

    private void touch() {
        threads.add(Thread.currentThread().getName());
    }

    private void step() {
        if (failingSteps.get() > 0 && failingSteps.decrementAndGet() >= 0) {
            throw new IllegalStateException("injected engine failure");
        }
        if (stepMillis > 0) {
            try {
                Thread.sleep(stepMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Deterministic next token: a letter chosen by hashing the whole sequence. */
    private void next(Sequence s) {
        if (quietFailures.get() > 0 && quietFailures.decrementAndGet() >= 0) {
            s.finish(FinishReason.ERROR);
            return;
        }
        if (nanLogits.get() > 0 && nanLogits.decrementAndGet() >= 0) {
            float[] logits = new float[info.vocabSize()];
            java.util.Arrays.fill(logits, Float.NaN);
            Sampler.sample(logits, 0, logits.length, s.sampling(), new java.util.Random(0)); // throws
        }
        int h = 7;
        for (int t : s.promptIds()) {
            h = h * 31 + t;
        }
        for (int t : s.generatedIds()) {
            h = h * 31 + t;
        }
        int token = 'a' + Math.floorMod(h, 26);
        s.appendToken(token);
        s.appendText(String.valueOf((char) token));
        FakeKvCache cache = caches.get(s);
        s.recordKvBytes(cache.held(), (long) (s.length() - 1) * KV_BYTES_PER_TOKEN);
        s.recordKvEntries(cache.entries(), s.length());
        if (s.generatedCount() >= s.sampling().maxTokens() || s.length() >= info.contextLength()) {
            s.finish(FinishReason.LENGTH);
            s.recordKvPeak(cache.peak(), -1);
            cache.free(); // as the real engine frees a finished sequence's cache in the step it finishes
        }
    }

    /** One character per token (ASCII), BOS 1, EOS 2; a plain chat template. */
    public static final TextCodec CODEC = new TextCodec() {
        @Override
        public int[] encode(String text, boolean addSpecialTokens) {
            int[] chars = text.chars().map(c -> c < 128 ? c : '?').toArray();
            if (!addSpecialTokens) {
                return chars;
            }
            int[] ids = new int[chars.length + 1];
            ids[0] = BOS;
            System.arraycopy(chars, 0, ids, 1, chars.length);
            return ids;
        }

        @Override
        public String decode(int[] ids) {
            StringBuilder b = new StringBuilder();
            for (int id : ids) {
                if (id != BOS && id != EOS) {
                    b.append((char) id);
                }
            }
            return b.toString();
        }

        @Override
        public String applyChatTemplate(List<ChatMessage> messages) {
            List<Map<String, Object>> list = messages.stream()
                    .map(m -> Map.<String, Object>of("role", m.role(), "content", m.content())).toList();
            return CHAT_TEMPLATE.render(Map.of("messages", list, "add_generation_prompt", true),
                    RenderLimits.DEFAULTS, java.time.Clock.systemUTC());
        }
    };
}
