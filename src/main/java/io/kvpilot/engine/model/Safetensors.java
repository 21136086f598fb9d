package io.kvpilot.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kvpilot.engine.CheckpointException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Reads the tensors of a Hugging Face checkpoint — {@code model.safetensors}, or the shards listed by
 * {@code model.safetensors.index.json} — as fp32 NDArrays. Our own reader rather than {@code NDList.decode}: that one
 * aborts the JVM on BF16 and reads whole files into one {@code byte[]} (2 GB limit). Headers are validated up front
 * (offsets, sizes, dtypes) so a corrupt file fails with its name instead of a native crash.
 */
public final class Safetensors {

    public record TensorInfo(String name, Path file, String dtype, long[] shape, long begin, long end) {}

    private final Map<String, TensorInfo> tensors = new HashMap<>();

    private Safetensors() {}

    public static Safetensors open(Path dir) {
        Safetensors st = new Safetensors();
        Path index = dir.resolve("model.safetensors.index.json");
        Path single = dir.resolve("model.safetensors");
        if (Files.exists(index)) {
            JsonObject map = ModelConfig.readJson(index).getAsJsonObject("weight_map");
            if (map == null) {
                throw new CheckpointException(index + ": no weight_map");
            }
            Map<String, Map<String, TensorInfo>> shards = new HashMap<>();
            for (Map.Entry<String, JsonElement> e : map.entrySet()) {
                String shard = e.getValue().getAsString();
                Map<String, TensorInfo> header = shards.computeIfAbsent(shard, s -> readHeader(dir.resolve(s)));
                TensorInfo info = header.get(e.getKey());
                if (info == null) {
                    throw new CheckpointException(dir.resolve(shard) + ": tensor " + e.getKey()
                            + " listed in " + index.getFileName() + " is missing");
                }
                st.tensors.put(e.getKey(), info);
            }
        } else if (Files.exists(single)) {
            st.tensors.putAll(readHeader(single));
        } else {
            throw new CheckpointException(dir + ": no model.safetensors or model.safetensors.index.json");
        }
        return st;
    }

    public Set<String> names() {
        return tensors.keySet();
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    /** The tensor as an fp32 array in {@code manager}, checked against {@code expected} shape. */
    public NDArray load(NDManager manager, String name, long... expected) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new CheckpointException("missing tensor " + name + " in the checkpoint's safetensors");
        }
        if (!java.util.Arrays.equals(t.shape(), expected)) {
            throw new CheckpointException(t.file() + ": tensor " + name + " has shape "
                    + java.util.Arrays.toString(t.shape()) + ", config.json implies " + java.util.Arrays.toString(expected));
        }
        Shape shape = new Shape(expected);
        long bytes = t.end() - t.begin();
        // Read straight into memory libtorch allocated (an empty tensor, viewed as a direct buffer), not into a Java
        // direct buffer wrapped as a tensor: the latter is freed only when the garbage collector gets to its buffer,
        // so a weight that is folded, packed or dropped after loading would keep its bytes long after close().
        switch (t.dtype()) {
            case "F32": {
                NDArray out = manager.create(shape, DataType.FLOAT32);
                return filled(out, () -> read(t, out.toByteBuffer(true)));
            }
            case "F16": {
                try (NDArray half = manager.create(shape, DataType.FLOAT16)) {
                    read(t, half.toByteBuffer(true)); // the half tensor is closed on failure too
                    return half.toType(DataType.FLOAT32, true);
                }
            }
            case "BF16": {
                // libtorch's BF16 path aborts the JVM here (docs/djl-notes.md): widen to fp32 in Java, bits << 16 is
                // exact. The raw values are read into the upper half of the fp32 tensor and widened front to back in
                // place: element i's 4 bytes end where its 2 source bytes end, so no unread value is overwritten.
                NDArray out = manager.create(shape, DataType.FLOAT32);
                return filled(out, () -> {
                    ByteBuffer wide = out.toByteBuffer(true).order(ByteOrder.LITTLE_ENDIAN);
                    int half = Math.toIntExact(bytes);
                    read(t, wide.slice(half, half));
                    for (int i = 0; i < half / 2; i++) {
                        wide.putInt(4 * i, (wide.getShort(half + 2 * i) & 0xffff) << 16);
                    }
                });
            }
            default:
                throw new CheckpointException(t.file() + ": tensor " + name + " has unsupported dtype " + t.dtype()
                        + " (F32, F16, BF16)");
        }
    }

    /** {@code tensor} once {@code fill} has run; closed if it fails. */
    private static NDArray filled(NDArray tensor, Runnable fill) {
        try {
            fill.run();
            return tensor;
        } catch (RuntimeException e) {
            tensor.close();
            throw e;
        }
    }

    /** Reads {@code t}'s bytes into {@code target} (exactly their size). */
    private static void read(TensorInfo t, ByteBuffer target) {
        if (target.remaining() != t.end() - t.begin()) {
            throw new IllegalStateException(t.name() + ": " + target.remaining() + " bytes of room for "
                    + (t.end() - t.begin()));
        }
        try (FileChannel ch = FileChannel.open(t.file(), StandardOpenOption.READ)) {
            long pos = t.begin();
            while (target.hasRemaining()) {
                int n = ch.read(target, pos);
                if (n < 0) {
                    throw new CheckpointException(t.file() + ": truncated while reading tensor " + t.name());
                }
                pos += n;
            }
        } catch (IOException e) {
            throw new CheckpointException(t.file() + ": cannot read tensor " + t.name() + " (" + e.getMessage() + ")",
                    e);
        }
    }

    public static Map<String, TensorInfo> readHeader(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(file + ": file not found");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            if (size < 8 || ch.read(len, 0) != 8) {
                throw new CheckpointException(file + ": corrupt safetensors header (file shorter than 8 bytes)");
            }
            long headerLen = len.getLong(0);
            if (headerLen <= 1 || headerLen > 100_000_000L || 8 + headerLen > size) {
                throw new CheckpointException(file + ": corrupt safetensors header (header length " + headerLen
                        + ", file size " + size + ")");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            while (hb.hasRemaining() && ch.read(hb, 8 + hb.position()) > 0) {}
            JsonObject header;
            try {
                header = JsonParser.parseString(new String(hb.array(), StandardCharsets.UTF_8)).getAsJsonObject();
            } catch (RuntimeException e) {
                throw new CheckpointException(file + ": corrupt safetensors header (not JSON: " + e.getMessage() + ")");
            }
            long dataStart = 8 + headerLen;
            Map<String, TensorInfo> out = new HashMap<>();
            for (Map.Entry<String, JsonElement> e : header.entrySet()) {
                if (e.getKey().equals("__metadata__")) {
                    continue;
                }
                out.put(e.getKey(), tensorInfo(file, e.getKey(), e.getValue(), dataStart, size));
            }
            return out;
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    private static TensorInfo tensorInfo(Path file, String name, JsonElement value, long dataStart, long size) {
        try {
            JsonObject o = value.getAsJsonObject();
            String dtype = o.get("dtype").getAsString();
            var shapeJson = o.getAsJsonArray("shape");
            long[] shape = new long[shapeJson.size()];
            long count = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeJson.get(i).getAsLong();
                count *= shape[i];
            }
            var offsets = o.getAsJsonArray("data_offsets");
            long begin = offsets.get(0).getAsLong();
            long end = offsets.get(1).getAsLong();
            int width = switch (dtype) {
                case "F32", "I32", "U32" -> 4;
                case "F16", "BF16", "I16" -> 2;
                case "F64", "I64" -> 8;
                default -> 1;
            };
            if (begin < 0 || end < begin || end - begin != count * width || dataStart + end > size) {
                throw new CheckpointException(file + ": corrupt safetensors header for tensor " + name
                        + " (offsets [" + begin + ", " + end + "], " + count + " × " + dtype + ", file size " + size + ")");
            }
            return new TensorInfo(name, file, dtype, shape, dataStart + begin, dataStart + end);
        } catch (CheckpointException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new CheckpointException(file + ": corrupt safetensors header for tensor " + name + " (" + e + ")");
        }
    }
}
