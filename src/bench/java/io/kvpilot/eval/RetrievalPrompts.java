package io.kvpilot.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.ToIntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The passkey and multi-key evaluation prompts of {@code training/synthetic.py} (normative, see training/README.md),
 * reproduced character for character: the default model was trained and evaluated on exactly these strings. A
 * tokenizer enters only through {@code countTokens}, which counts the BOS the tokenizer adds.
 */
public final class RetrievalPrompts {

    public static final String PASSKEY_INTRO =
            "There is an important pass key hidden inside a lot of irrelevant text. Find it and memorize it.";
    public static final String FILLER_UNIT =
            "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
    public static final String PASSKEY_QUESTION = "\nWhat is the pass key? The pass key is";
    public static final String MULTIKEY_INTRO =
            "There are several keys with values hidden inside a lot of irrelevant text. Find them and memorize them.";
    public static final List<String> NAMES = List.of("apple", "river", "stone", "cloud", "tiger", "lemon", "piano",
            "candle", "forest", "silver", "garden", "rocket", "window", "dragon", "pepper", "castle");
    public static final int ANSWER_TOKENS = 8;
    public static final int MULTIKEY_K = 4;

    private static final Pattern ANSWER = Pattern.compile("^\\s*(\\d+)", Pattern.UNICODE_CHARACTER_CLASS);

    /** A prompt, the character offset where its question starts (context = prompt before it), the expected answer. */
    public record Case(String prompt, int questionStart, String expected) {
        public String context() {
            return prompt.substring(0, questionStart);
        }

        public String question() {
            return prompt.substring(questionStart);
        }
    }

    /** A named key–value pair of a multi-key prompt. */
    public record Pair(String name, long value) {}

    private RetrievalPrompts() {}

    public static String filler(int k) {
        return (" " + FILLER_UNIT).repeat(k);
    }

    public static String passkeyNeedle(long key) {
        return " The pass key is " + key + ". Remember it. " + key + " is the pass key.";
    }

    public static String multikeyNeedle(String name, long value) {
        return " The value of the " + name + " key is " + value + ". Remember it.";
    }

    public static String multikeyQuestion(String name) {
        return "\nWhat is the value of the " + name + " key? The value of the " + name + " key is";
    }

    /** 10000..99999, exact in 64-bit arithmetic like the Python builder. */
    public static long evalValue(int length, int slot, int trial) {
        return 10000 + Math.floorMod((trial + 1L) * 2654435761L + length * 40503L + slot * 97L, 90000L);
    }

    public static String passkeyContext(long key, int n, int pct) {
        int a = (n * pct + 50) / 100;
        return PASSKEY_INTRO + filler(a) + passkeyNeedle(key) + filler(n - a);
    }

    public static String passkeyPrompt(long key, int n, int pct) {
        return passkeyContext(key, n, pct) + PASSKEY_QUESTION;
    }

    public static String multikeyContext(List<Pair> pairs, int n) {
        int k = pairs.size();
        StringBuilder sb = new StringBuilder(MULTIKEY_INTRO);
        int prev = 0;
        for (int i = 0; i < k; i++) {
            int p = (n * (2 * i + 1)) / (2 * k);
            sb.append(filler(p - prev)).append(multikeyNeedle(pairs.get(i).name(), pairs.get(i).value()));
            prev = p;
        }
        return sb.append(filler(n - prev)).toString();
    }

    public static String multikeyPrompt(List<Pair> pairs, int q, int n) {
        return multikeyContext(pairs, n) + multikeyQuestion(pairs.get(q).name());
    }

    /** Largest n >= 0 with countTokens(build(n)) <= maxTokens (same search as fit_units). */
    public static int fitUnits(IntFunction<String> build, ToIntFunction<String> countTokens, int maxTokens) {
        int c0 = countTokens.applyAsInt(build.apply(0));
        if (c0 > maxTokens) {
            throw new IllegalArgumentException("prompt does not fit even without filler");
        }
        int per = Math.max(1, countTokens.applyAsInt(build.apply(1)) - c0);
        int n = Math.max(0, Math.floorDiv(maxTokens - c0, per));
        while (n > 0 && countTokens.applyAsInt(build.apply(n)) > maxTokens) {
            n--;
        }
        while (countTokens.applyAsInt(build.apply(n + 1)) <= maxTokens) {
            n++;
        }
        return n;
    }

    /** passkey_eval_case: depth {@code pct} in percent, {@code trial} from 0. */
    public static Case passkeyCase(ToIntFunction<String> countTokens, int length, int pct, int trial) {
        long key = evalValue(length, pct, trial);
        int n = fitUnits(m -> passkeyPrompt(key, m, pct), countTokens, length - ANSWER_TOKENS);
        String context = passkeyContext(key, n, pct);
        return new Case(context + PASSKEY_QUESTION, context.length(), Long.toString(key));
    }

    public static List<Pair> multikeyPairs(int length, int trial, int k) {
        List<Pair> pairs = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            pairs.add(new Pair(NAMES.get((trial * k + i) % NAMES.size()), evalValue(length, 100 + i, trial)));
        }
        return pairs;
    }

    /** multikey_eval_case with K = {@link #MULTIKEY_K}. */
    public static Case multikeyCase(ToIntFunction<String> countTokens, int length, int trial) {
        int k = MULTIKEY_K;
        List<Pair> pairs = multikeyPairs(length, trial, k);
        int q = trial % k;
        int n = fitUnits(m -> multikeyPrompt(pairs, q, m), countTokens, length - ANSWER_TOKENS);
        String context = multikeyContext(pairs, n);
        return new Case(context + multikeyQuestion(pairs.get(q).name()), context.length(),
                Long.toString(pairs.get(q).value()));
    }

    /** answer_correct: the continuation matches {@code ^\s*(\d+)} and the digits equal {@code expected}. */
    public static boolean answerCorrect(String continuation, String expected) {
        Matcher m = ANSWER.matcher(continuation);
        return m.find() && m.group(1).equals(expected);
    }
}
