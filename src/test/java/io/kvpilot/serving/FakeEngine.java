package io.kvpilot.serving;

import io.kvpilot.engine.ChatMessage;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.ModelInfo;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.TextCodec;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A model-free engine for scheduler and API tests: one character per token, the next token a hash of the sequence so
 * far (so outputs are deterministic and independent of batching), byte accounting like a real cache
 * ({@code kvBytesPerToken} per kept token), and knobs to slow steps down or make them fail.
 */
public class FakeEngine implements GenerationEngine {

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
    public volatile long stepMillis;
    /** Bytes each live sequence holds beyond its tokens (a pool's block rounding). */
    public volatile long extraBytesPerSequence;

    public FakeEngine(int contextLength) {
        this.info = new ModelInfo("fake-model", "FakeForCausalLM", contextLength, 128, 2, 2, 8, KV_BYTES_PER_TOKEN,
                1000);
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
        if (compression.method().equals("unknown_method")) {
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
                next(s);
            }
        }
    }

    @Override
    public void release(Sequence sequence) {
        touch();
        if (live.remove(sequence.id()) != null) {
            released.add(sequence.id());
        }
    }

    @Override
    public long kvBytesInUse() {
        return live.values().stream().mapToLong(Sequence::kvBytes).sum();
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
        long kept = (long) Math.ceil(s.length() * (1.0 - s.compression().ratio()));
        s.recordKvBytes(kept * KV_BYTES_PER_TOKEN * s.compression().bits() / 16 + extraBytesPerSequence,
                (long) s.length() * KV_BYTES_PER_TOKEN);
        s.recordKvEntries(kept, s.length());
        if (s.generatedCount() >= s.sampling().maxTokens()) {
            s.finish(FinishReason.LENGTH);
        } else if (s.length() >= info.contextLength()) {
            s.finish(FinishReason.LENGTH);
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
            StringBuilder b = new StringBuilder();
            messages.forEach(m -> b.append('<').append(m.role()).append('>').append(m.content()).append('\n'));
            return b.append("<assistant>").toString();
        }
    };
}
