package io.kvpilot.kvcache.press;

import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.lowrank.LowRankKeysFormat;
import io.kvpilot.kvcache.quant.KiviFormat;
import io.kvpilot.kvcache.quant.KvFormat;

/**
 * {@link KvFootprint}'s arithmetic: the engine's allocations for one sequence replayed on counts, in the order the
 * stores make them (each event names the store method it mirrors). Per layer it tracks the entries per head
 * {@code n}, the dense capacity {@code cap} and the bytes held; {@link #peak} is the running maximum of the sum,
 * including the moments a store holds old and new tensors together.
 */
final class FootprintReplay {

    private enum Storage { DENSE, INT8, KIVI, LOW_RANK }

    private final KvLayout layout;
    private final KvMethod method;
    private final Storage storage;
    private final int layers;
    private final long heads;
    private final long dim;
    private final int[] n;
    private final int[] cap;
    private final long[] bytes;
    private final boolean ragged; // AdaKV: heads keep different counts, the store pads and masks
    private boolean exact;
    private long held;
    private long peak;
    private boolean prefilled;
    private long peakAfterPrefill;

    FootprintReplay(KvLayout layout, KvMethod method) {
        this.layout = layout;
        this.method = method;
        this.layers = layout.layers();
        this.heads = layout.kvHeads();
        this.dim = layout.headDim();
        this.n = new int[layers];
        this.cap = new int[layers];
        this.bytes = new long[layers];
        KvFormat format = method == null ? KvFormat.DENSE : method.format();
        this.exact = true;
        if (format.isDense()) {
            storage = Storage.DENSE;
        } else if (format == KvFormat.INT8) {
            storage = Storage.INT8;
        } else if (format instanceof KiviFormat) {
            storage = Storage.KIVI;
        } else if (format instanceof LowRankKeysFormat) {
            storage = Storage.LOW_RANK;
        } else {
            storage = Storage.DENSE; // a format registered by a user: bounded by the dense cache it starts from
            exact = false;
        }
        Press press = method == null ? null : method.press();
        this.ragged = press != null && press.heads() != HeadAllocation.UNIFORM;
        if (ragged) {
            exact = false;
        }
    }

    KvFootprint run(int prompt, int generated) {
        prefill(prompt);
        prefilled = true;
        peakAfterPrefill = held;
        for (int step = 1; step < generated; step++) { // the first token comes from prefill
            decodeStep();
            int interval = method == null ? 0 : method.decodeInterval();
            if (interval > 0 && step % interval == 0 && step < generated - 1) { // the engine skips a finished one
                boundDuringDecode(prompt + step);
            }
        }
        return new KvFootprint(peak, held, exact, peakAfterPrefill);
    }

    /** SequenceKvCache's dense stores for prompt + 1 tokens, then KvMethod#afterPrefill layer by layer. */
    private void prefill(int prompt) {
        int initial = KvBlockPool.roundUpToBlocks(prompt + 1);
        for (int l = 0; l < layers; l++) {
            n[l] = prompt;
            cap[l] = initial;
            set(l, dense(initial, false));
        }
        if (method == null || (method.press() == null && storage == Storage.DENSE)) {
            return;
        }
        for (int l = 0; l < layers; l++) {
            if (method.press() != null) {
                int keep = budget(l, prompt);
                if (keep < prompt) {
                    retainDense(l, length(keep, prompt));
                }
            }
            convert(l);
        }
    }

    /** KvFormat#convert: the new store is built (its tensors adopted) while the dense one is still alive. */
    private void convert(int l) {
        if (storage == Storage.DENSE) {
            return;
        }
        long building = switch (storage) {
            case KIVI -> Math.max(2 * heads * n[l] * dim * 2, stored(n[l])); // the fp16 copy, then its flush
            default -> stored(n[l]);
        };
        transientExtra(building + mask(n[l]));
        set(l, stored(n[l]) + mask(n[l]));
    }

    /** DenseKvLayerStore#retain: K and V compacted into new tensors, then the old ones (and mask) freed. */
    private void retainDense(int l, int keep) {
        int newCap = KvBlockPool.roundUpToBlocks(keep);
        transientExtra(dense(newCap, false));
        n[l] = keep;
        cap[l] = newCap;
        set(l, dense(newCap, ragged));
    }

    /** One decode pass: KvLayerStore#reserve (a dense store grows a block), then the append of one entry. */
    private void decodeStep() {
        for (int l = 0; l < layers; l++) {
            if (storage == Storage.DENSE && n[l] + 1 > cap[l]) {
                int newCap = KvBlockPool.roundUpToBlocks(n[l] + 1);
                long half = heads * newCap * dim * layout.bytesPerElement();
                transientExtra(half); // K grown: the bigger tensor exists before the old one is freed
                set(l, bytes[l] - dense(cap[l], false) / 2 + half);
                transientExtra(half); // then V
                cap[l] = newCap;
                set(l, dense(newCap, false) + (ragged ? heads * (long) newCap * 4 : 0));
            }
        }
        for (int l = 0; l < layers; l++) {
            if (storage == Storage.KIVI && kiviResidual(n[l]) + 1 == kivi().residual() + kivi().groupSize()) {
                // KiviKvStore#append holds the full window for a moment before it quantizes its oldest group
                set(l, kiviBytes(n[l] + 1, kiviResidual(n[l]) + 1) + mask(n[l] + 1));
            }
            n[l]++;
            set(l, storage == Storage.DENSE ? bytes[l] : stored(n[l]) + mask(n[l]));
        }
    }

    /** KvMethod#duringDecode: each layer back to the press's budget over every position seen. */
    private void boundDuringDecode(int positions) {
        for (int l = 0; l < layers; l++) {
            int budget = budget(l, positions);
            if (budget >= n[l]) {
                continue;
            }
            int keep = length(budget, n[l]);
            switch (storage) {
                case DENSE -> retainDense(l, keep);
                case KIVI -> { // KiviKvStore#retain: everything freed, the kept entries back in fp16, then flushed
                    transientExtra(-bytes[l] + mask(n[l]) + 2 * heads * keep * dim * 2);
                    n[l] = keep;
                    set(l, stored(keep) + mask(keep));
                }
                default -> { // int8 and low-rank gather tensor by tensor, each freed before its copy is adopted
                    n[l] = keep;
                    set(l, stored(keep) + mask(keep));
                }
            }
        }
    }

    /** Entries per head layer {@code l}'s budget allows once {@code positions} tokens were seen. */
    private int budget(int l, int positions) {
        Press press = method.press();
        return press.budgets().keep(l, layers, positions, press.ratio());
    }

    /**
     * The length of layer's store after a compaction to {@code keep} entries per head of {@code entries}: exactly
     * {@code keep} (top-k keeps that many), or for AdaKV the most one head can take, which the padded store holds.
     */
    private int length(int keep, int entries) {
        Press press = method.press();
        if (!ragged) {
            return keep;
        }
        if (press.heads() instanceof AdaKvHeads ada) {
            int floor = Math.min(entries, (int) Math.ceil(ada.alpha() * keep));
            long spare = heads * keep - heads * floor;
            return (int) Math.min(entries, floor + spare);
        }
        return entries; // an unknown head allocation: no saving assumed
    }

    private long dense(int capacity, boolean withMask) {
        long kv = 2 * heads * capacity * dim * layout.bytesPerElement();
        return withMask ? kv + heads * (long) capacity * 4 : kv;
    }

    /** A ragged quantized store's fp32 padding mask {@code [K, 1, n]}. */
    private long mask(int entries) {
        return ragged ? heads * (long) entries * 4 : 0;
    }

    /** Bytes of a non-dense store of {@code entries} entries per head. */
    private long stored(int entries) {
        return switch (storage) {
            case INT8 -> 2 * (heads * entries * dim + heads * entries * 4L); // codes + one fp32 scale per token
            case KIVI -> kiviBytes(entries, kiviResidual(entries));
            case LOW_RANK -> {
                long r = ((LowRankKeysFormat) method.format()).rank((int) dim);
                yield 4 * (heads * dim * r + heads * entries * r + heads * entries * dim); // basis, coeffs, values
            }
            case DENSE -> throw new IllegalStateException("dense stores are counted by capacity");
        };
    }

    private KiviFormat kivi() {
        return (KiviFormat) method.format();
    }

    /**
     * Tokens in KIVI's fp16 window: all while fewer than R, then R..R+G-1 (whole groups of G quantized). For a bound
     * on a store of at most {@code entries}, the fullest window: bytes are a sawtooth in the count, not monotone.
     */
    private int kiviResidual(int entries) {
        int r = kivi().residual();
        int g = kivi().groupSize();
        if (ragged) {
            return Math.min(entries, r + g - 1);
        }
        return entries < r ? entries : r + (entries - r) % g;
    }

    private long kiviBytes(int entries, int residual) {
        long quantized = entries - residual;
        int g = kivi().groupSize();
        long codes = 2 * heads * quantized * dim * kivi().bits() / 8;
        long keyParams = 2 * heads * (quantized / g) * dim * 2; // fp16 scale and zero per channel and token group
        long valueParams = 2 * heads * quantized * (dim / g) * 2; // fp16 scale and zero per token and channel group
        return codes + keyParams + valueParams + 2 * heads * residual * dim * 2;
    }

    private void set(int l, long layerBytes) {
        held += layerBytes - bytes[l];
        bytes[l] = layerBytes;
        peak = Math.max(peak, held);
        if (prefilled) {
            peakAfterPrefill = Math.max(peakAfterPrefill, held);
        }
    }

    private void transientExtra(long extra) {
        peak = Math.max(peak, held + extra);
        if (prefilled) {
            peakAfterPrefill = Math.max(peakAfterPrefill, held + extra);
        }
    }
}
