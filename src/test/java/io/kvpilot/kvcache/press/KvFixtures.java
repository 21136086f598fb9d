package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import java.util.Random;

/** Random caches and observations for the method matrix (fixed seeds). */
final class KvFixtures {

    private KvFixtures() {}

    static NDArray random(NDManager m, Random rnd, long... shape) {
        int n = (int) new Shape(shape).size();
        float[] data = new float[n];
        for (int i = 0; i < n; i++) {
            data[i] = (float) rnd.nextGaussian();
        }
        return m.create(data, new Shape(shape));
    }

    /** A cache of {@code tokens} random entries per layer, as the engine leaves it after prefill. */
    static SequenceKvCache filled(KvBlockPool pool, NDManager m, KvLayout layout, int tokens, long seed) {
        Random rnd = new Random(seed);
        SequenceKvCache cache = new SequenceKvCache(pool, m, layout, tokens);
        try (NDManager scratch = m.newSubManager()) {
            for (int l = 0; l < layout.layers(); l++) {
                cache.layer(l).append(random(scratch, rnd, layout.kvHeads(), tokens, layout.headDim()),
                        random(scratch, rnd, layout.kvHeads(), tokens, layout.headDim()));
            }
        }
        cache.advance(tokens);
        return cache;
    }

    /**
     * Causal softmaxed attention rows of the last {@code window} positions for {@code heads} query heads, and attention
     * sums over all positions as if every query had attended like those rows (positive, [heads, tokens]).
     */
    static PrefillObservation observation(NDManager m, int layers, int heads, int window, int tokens, long seed) {
        Random rnd = new Random(seed);
        NDArray[] attn = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
            float[] a = new float[heads * window * tokens];
            for (int h = 0; h < heads; h++) {
                for (int j = 0; j < window; j++) {
                    int visible = tokens - window + j + 1;
                    double sum = 0;
                    int row = (h * window + j) * tokens;
                    for (int t = 0; t < visible; t++) {
                        a[row + t] = (float) Math.exp(3 * rnd.nextGaussian());
                        sum += a[row + t];
                    }
                    for (int t = 0; t < visible; t++) {
                        a[row + t] /= sum;
                    }
                }
            }
            attn[l] = m.create(a, new Shape(heads, window, tokens));
        }
        NDArray[] sums = new NDArray[layers];
        for (int l = 0; l < layers; l++) {
            float[] s = new float[heads * tokens];
            for (int i = 0; i < s.length; i++) {
                s[i] = (float) Math.exp(rnd.nextGaussian()) * (tokens - i % tokens);
            }
            sums[l] = m.create(s, new Shape(heads, tokens));
        }
        return new PrefillObservation(tokens, window, attn, sums);
    }
}
