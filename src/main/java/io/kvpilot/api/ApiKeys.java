package io.kvpilot.api;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * Key checks in constant time: candidate and keys are hashed to SHA-256 first (so lengths leak nothing), compared
 * with {@link MessageDigest#isEqual}, and every key is compared whatever matched before.
 */
final class ApiKeys {

    enum Role { NONE, USER, ADMIN }

    private final List<byte[]> userDigests;
    private final List<byte[]> adminDigests;

    ApiKeys(SecurityProperties properties) {
        this.userDigests = properties.apiKeys().stream().map(ApiKeys::sha256).toList();
        this.adminDigests = properties.adminKeys().stream().map(ApiKeys::sha256).toList();
    }

    Role roleOf(String candidate) {
        byte[] digest = sha256(candidate);
        boolean admin = matchesAny(digest, adminDigests);
        boolean user = matchesAny(digest, userDigests);
        return admin ? Role.ADMIN : user ? Role.USER : Role.NONE;
    }

    /** A short, stable, non-reversible id of a key, for rate limiting and logs. */
    static String fingerprint(String key) {
        return HexFormat.of().formatHex(sha256(key), 0, 6);
    }

    private static boolean matchesAny(byte[] digest, List<byte[]> digests) {
        boolean match = false;
        for (byte[] d : digests) {
            match |= MessageDigest.isEqual(digest, d);
        }
        return match;
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
