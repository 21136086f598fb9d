package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvLayerStore;

/**
 * KIVI at 4 or 2 bits ({@link KiviKvStore}).
 *
 * @param bits 4 or 2
 * @param groupSize tokens per key group and channels per value group; must divide the head dimension
 * @param residual tokens kept in full precision at least (the paper uses 32–128)
 */
public record KiviFormat(int bits, int groupSize, int residual) implements KvFormat {

    public KiviFormat {
        if (bits != 4 && bits != 2) {
            throw new IllegalArgumentException("KIVI bits must be 4 or 2, got " + bits);
        }
        if (groupSize < 1 || residual < 0) {
            throw new IllegalArgumentException("groupSize must be >= 1 and residual >= 0");
        }
    }

    @Override
    public KvLayerStore build(KvBlockPool pool, NDManager manager, NDArray keys, NDArray values, NDArray mask) {
        checkHeadDim(Math.toIntExact(keys.getShape().get(2)));
        return new KiviKvStore(pool, manager, keys, values, mask, this);
    }

    @Override
    public void checkHeadDim(int headDim) {
        if (headDim % groupSize != 0 || headDim % (8 / bits) != 0) {
            throw new IllegalArgumentException(bits + "-bit KIVI quantizes values in groups of " + groupSize
                    + " channels, which do not divide this model's head dimension of " + headDim
                    + "; use bits 8 or 16");
        }
    }
}
