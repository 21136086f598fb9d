package io.kvpilot.engine.batch;

import io.kvpilot.engine.TextCodec;
import java.util.Arrays;
import java.util.List;

/**
 * Turns one sequence's generated ids into released text. Decodes a growing window of ids and emits the new suffix
 * (a lone token decodes without its leading space, and a partial UTF-8 character decodes to U+FFFD, which is held
 * back). Text that could still be the start of a stop string is held until it cannot; a matched stop string ends the
 * sequence and is not released.
 */
final class TextStream {

    private final TextCodec codec;
    private final List<String> stops;
    private final StringBuilder text = new StringBuilder();
    private int released;
    private int prefixOffset;
    private int readOffset;

    TextStream(TextCodec codec, List<String> stops) {
        this.codec = codec;
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
    }

    /** Takes the ids generated so far (the newest last); returns true when a stop string matched. */
    boolean push(int[] ids, int count, io.kvpilot.engine.Sequence seq) {
        String prefix = codec.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset));
        String full = codec.decode(Arrays.copyOfRange(ids, prefixOffset, count));
        if (full.length() > prefix.length() && !full.endsWith("\uFFFD") && full.startsWith(prefix)) {
            text.append(full, prefix.length(), full.length());
            prefixOffset = readOffset;
            readOffset = count;
        }
        return release(seq, false);
    }

    /** At the end: releases everything held, partial characters included (unless a stop string is in it). */
    void flush(int[] ids, int count, io.kvpilot.engine.Sequence seq) {
        String prefix = codec.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset));
        String full = codec.decode(Arrays.copyOfRange(ids, prefixOffset, count));
        if (full.length() > prefix.length() && full.startsWith(prefix)) {
            text.append(full, prefix.length(), full.length());
        }
        prefixOffset = readOffset = count;
        release(seq, true);
    }

    private boolean release(io.kvpilot.engine.Sequence seq, boolean all) {
        int stopAt = -1;
        for (String stop : stops) {
            int at = text.indexOf(stop, released);
            if (at >= 0 && (stopAt < 0 || at < stopAt)) {
                stopAt = at;
            }
        }
        if (stopAt >= 0) {
            seq.appendText(text.substring(released, stopAt));
            released = text.length();
            return true;
        }
        int end = text.length();
        if (!all) {
            end -= heldBack();
        }
        if (end > released) {
            seq.appendText(text.substring(released, end));
            released = end;
        }
        return false;
    }

    /** Length of the longest unreleased suffix that is a proper prefix of some stop string. */
    private int heldBack() {
        int held = 0;
        int pending = text.length() - released;
        for (String stop : stops) {
            for (int len = Math.min(stop.length() - 1, pending); len > held; len--) {
                if (endsWithPrefix(stop, len)) {
                    held = len;
                    break;
                }
            }
        }
        return held;
    }

    private boolean endsWithPrefix(String stop, int len) {
        int from = text.length() - len;
        for (int i = 0; i < len; i++) {
            if (text.charAt(from + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
