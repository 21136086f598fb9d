package io.kvpilot.engine.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvpilot.engine.ChatMessage;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.TextCodec;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Sampler and TextStream without a model. */
class SamplingAndTextTest {

    static final float[] LOGITS = {0.1f, 3.0f, 2.5f, -1f, 2.9f, 0.0f};

    static SamplingParams params(double t, double topP, int topK, long seed) {
        return new SamplingParams(t, topP, topK, seed, 10, List.of(), false);
    }

    @Test
    void nonFiniteLogitsAreRefusedNotSampledAtIndexMinusOne() {
        SamplingParams hot = new SamplingParams(0.7, 0.9, 5, 1L, 1, java.util.List.of(), false);
        float[] nan = {0.1f, Float.NaN, 0.3f};
        float[] allNan = {Float.NaN, Float.NaN};
        float[] inf = {0.1f, Float.POSITIVE_INFINITY};
        float[] negInf = {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY};
        for (float[] row : new float[][] {nan, allNan, inf, negInf}) {
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> Sampler.sample(row, 0, row.length, hot, new Random(1)));
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> Sampler.sample(row, 0, row.length, SamplingParams.greedy(1), new Random(1)));
        }
    }

    @Test
    void theSmallestAllowedTemperatureStillSamplesTheBestToken() {
        SamplingParams coldest = new SamplingParams(SamplingParams.MIN_TEMPERATURE, 1.0, 0, 1L, 1,
                java.util.List.of(), false);
        assertEquals(1, Sampler.sample(LOGITS, 0, LOGITS.length, coldest, new Random(3)));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new SamplingParams(1e-320, 1.0, 0, 1L, 1, java.util.List.of(), false));
    }

    @Test
    void greedyTakesTheArgmax() {
        assertEquals(1, Sampler.sample(LOGITS, 0, LOGITS.length, SamplingParams.greedy(1), new Random()));
    }

    @Test
    void sameSeedSameTokens() {
        int[] a = new int[50], b = new int[50];
        Random ra = new Random(7), rb = new Random(7);
        for (int i = 0; i < 50; i++) {
            a[i] = Sampler.sample(LOGITS, 0, LOGITS.length, params(1.0, 1.0, 0, 7), ra);
            b[i] = Sampler.sample(LOGITS, 0, LOGITS.length, params(1.0, 1.0, 0, 7), rb);
        }
        assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(b));
    }

    @Test
    void topKAndTopPLimitTheCandidates() {
        Random r = new Random(1);
        for (int i = 0; i < 500; i++) {
            int k2 = Sampler.sample(LOGITS, 0, LOGITS.length, params(2.0, 1.0, 2, 0), r);
            assertTrue(k2 == 1 || k2 == 4, "top-2 drew " + k2);
            assertEquals(1, Sampler.sample(LOGITS, 0, LOGITS.length, params(1.0, 0.01, 0, 0), r));
        }
        int[] seen = new int[LOGITS.length];
        for (int i = 0; i < 2000; i++) {
            seen[Sampler.sample(LOGITS, 0, LOGITS.length, params(1.0, 1.0, 0, 0), r)]++;
        }
        assertTrue(seen[1] > seen[2] && seen[2] > 0 && seen[0] > 0, java.util.Arrays.toString(seen));
    }

    /** id i decodes to WORDS[i]; good enough to test hold-back and stop strings. */
    static final String[] WORDS = {"", "Hel", "lo", " wor", "ld", "<", "/s", ">", "!"};

    static final TextCodec CODEC = new TextCodec() {
        @Override
        public int[] encode(String text, boolean special) {
            throw new UnsupportedOperationException();
        }

        @Override
        public String decode(int[] ids) {
            StringBuilder b = new StringBuilder();
            for (int id : ids) {
                b.append(WORDS[id]);
            }
            return b.toString();
        }

        @Override
        public String applyChatTemplate(List<ChatMessage> messages) {
            throw new UnsupportedOperationException();
        }
    };

    static Sequence sequence(List<String> stops) {
        return new Sequence("t", new int[] {1}, new SamplingParams(0, 1, 0, 0L, 10, stops, false), KvCompressionSpec.NONE);
    }

    /** Feeds ids one by one; returns the text released after each, and whether a stop matched at the end. */
    static String feed(TextStream stream, Sequence seq, int... ids) {
        StringBuilder all = new StringBuilder();
        for (int n = 1; n <= ids.length; n++) {
            boolean stopped = stream.push(ids, n, seq);
            all.append(seq.takeText()).append('|');
            if (stopped) {
                return all.append("STOP").toString();
            }
        }
        return all.toString();
    }

    @Test
    void textIsReleasedTokenByToken() {
        Sequence seq = sequence(List.of());
        assertEquals("Hel|lo| wor|ld|", feed(new TextStream(CODEC, List.of()), seq, 1, 2, 3, 4));
    }

    @Test
    void stopStringIsHeldBackAcrossTokensAndNotReleased() {
        Sequence seq = sequence(List.of("</s>"));
        // "<" and "/s" could begin "</s>", so they wait; ">" completes it and nothing of it is released
        assertEquals("Hel|lo||||STOP", feed(new TextStream(CODEC, List.of("</s>")), seq, 1, 2, 5, 6, 7, 8));
    }

    @Test
    void heldTextIsReleasedOnceItCannotMatch() {
        Sequence seq = sequence(List.of("</s>"));
        assertEquals("Hel||<!|", feed(new TextStream(CODEC, List.of("</s>")), seq, 1, 5, 8));
    }

    @Test
    void flushReleasesHeldText() {
        Sequence seq = sequence(List.of("</s>"));
        TextStream stream = new TextStream(CODEC, List.of("</s>"));
        int[] ids = {1, 5};
        assertFalse(stream.push(ids, 1, seq));
        assertFalse(stream.push(ids, 2, seq));
        assertEquals("Hel", seq.takeText());
        stream.flush(ids, 2, seq);
        assertEquals("<", seq.takeText());
    }
}
