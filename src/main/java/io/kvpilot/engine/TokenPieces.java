package io.kvpilot.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A prompt's tokens with the text each contributes, so that a page can mark which text each token is. Pieces are
 * decoded incrementally as {@code TextStream} releases generated text: a lone token decodes without its leading space,
 * so each piece is the new suffix of a short window; a character split over several tokens (byte fallback) belongs to
 * the token that completes it, the ones before get empty pieces; special tokens have empty pieces. The pieces laid
 * end to end are {@link #text()}, which offsets index.
 */
public final class TokenPieces {

    /**
     * @param id the token id
     * @param start offset of the piece in {@link TokenPieces#text()}, in UTF-16 chars
     * @param end its end (exclusive); {@code start == end} for a token that adds no text of its own
     */
    public record Piece(int id, int start, int end) {}

    private final String text;
    private final List<Piece> pieces;

    private TokenPieces(String text, List<Piece> pieces) {
        this.text = text;
        this.pieces = pieces;
    }

    public static TokenPieces of(TextCodec codec, int[] ids) {
        StringBuilder text = new StringBuilder();
        List<Piece> pieces = new ArrayList<>(ids.length);
        int prefixOffset = 0;
        int readOffset = 0;
        for (int i = 0; i < ids.length; i++) {
            String prefix = codec.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset));
            String full = codec.decode(Arrays.copyOfRange(ids, prefixOffset, i + 1));
            boolean complete = !full.endsWith("\uFFFD") || i == ids.length - 1;
            if (complete && full.length() > prefix.length() && full.startsWith(prefix)) {
                for (int j = readOffset; j < i; j++) {
                    pieces.add(new Piece(ids[j], text.length(), text.length()));
                }
                int start = text.length();
                text.append(full, prefix.length(), full.length());
                pieces.add(new Piece(ids[i], start, text.length()));
                prefixOffset = readOffset;
                readOffset = i + 1;
            }
        }
        for (int j = readOffset; j < ids.length; j++) { // trailing tokens that add no text (special, incomplete)
            pieces.add(new Piece(ids[j], text.length(), text.length()));
        }
        return new TokenPieces(text.toString(), List.copyOf(pieces));
    }

    public String text() {
        return text;
    }

    public List<Piece> pieces() {
        return pieces;
    }
}
