package io.kvpilot.eval;

import io.kvpilot.engine.TextCodec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Held-out text as one token stream, built like training/evaluate.py's perplexity: documents separated by
 * {@code "\n\f\n"} (corpus_io.DOC_SEP), each as {@code <s>} + tokens + {@code </s>}.
 */
public final class HeldOut {

    public static final String DOC_SEP = "\n\f\n";

    private HeldOut() {}

    /** The first {@code maxTokens} tokens (or all) of the stream of {@code file}. */
    public static int[] stream(Path file, TextCodec codec, long maxTokens) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        int[] out = new int[1024];
        int n = 0;
        for (String doc : text.split(DOC_SEP, -1)) {
            if (doc.isBlank()) {
                continue;
            }
            int[] ids = codec.encode(doc, false);
            if (n + ids.length + 2 > out.length) {
                out = Arrays.copyOf(out, Math.max(out.length * 2, n + ids.length + 2));
            }
            out[n++] = 1;
            System.arraycopy(ids, 0, out, n, ids.length);
            n += ids.length;
            out[n++] = 2;
            if (n >= maxTokens) {
                break;
            }
        }
        return Arrays.copyOf(out, n);
    }
}
