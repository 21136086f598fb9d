package io.kvpilot.kvcache.quant;

import io.kvpilot.kvcache.KvLayerStore;
import java.nio.ByteBuffer;

/**
 * A quantized store that an engine doing its own attention appends to and reads in place: new entries arrive as fp32
 * rows and are quantized straight into the store's capacity buffers (no tensor op, nothing allocated unless the
 * store grows), and the packed buffers are exposed as native-order views for a kernel that dequantizes inside its
 * attention loop. Engine thread only.
 */
public interface InPlaceKvStore extends KvLayerStore {

    /**
     * Appends {@code count} tokens: token {@code t}'s key for KV head {@code kh} is the {@code headDim} floats of
     * {@code rows} from {@code from + t·rowStride + keysAt + kh·headDim}, its value likewise from {@code valuesAt}.
     */
    void appendRows(float[] rows, int from, int rowStride, int keysAt, int valuesAt, int count);

    /** Whether heads hold different counts (a ragged compaction), so reads need the padding mask. */
    boolean ragged();

    /**
     * The store's buffers as native-order views, in the layout its class comment gives; valid until the next append,
     * reserve or compaction. The store's own array, not to be changed.
     */
    ByteBuffer[] views();
}
