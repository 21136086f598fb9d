package io.kvpilot.api;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.springframework.stereotype.Component;

/**
 * Key checks in constant time: candidate and keys are hashed to SHA-256 first (so lengths leak nothing), compared
 * with {@link MessageDigest#isEqual}, and every key is compared whatever matched before.
 *
 * <p>A caller is named by a client id, 12 hex digits of HMAC-SHA256 of its key under
 * {@code kvpilot.security.client-id-secret} (a random per-process secret when unset). The id names the caller's rate
 * limiter and so appears as a label on the open Prometheus scrape: an unsalted hash there let anyone test key guesses
 * offline; without the secret the id says nothing about the key.
 */
@Component
final class ApiKeys {

    enum Role { NONE, USER, ADMIN }

    /** Who a request comes from; {@code clientId} is null for {@link Role#NONE}. */
    record Caller(Role role, String clientId) {}

    private static final Caller UNKNOWN = new Caller(Role.NONE, null);
    private static final HexFormat HEX = HexFormat.of();

    private final List<byte[]> userDigests;
    private final List<byte[]> adminDigests;
    private final Map<String, String> clientIdByDigest = new HashMap<>();
    private final SecretKeySpec clientIdKey;

    ApiKeys(SecurityProperties properties) {
        this.userDigests = properties.apiKeys().stream().map(ApiKeys::sha256).toList();
        this.adminDigests = properties.adminKeys().stream().map(ApiKeys::sha256).toList();
        this.clientIdKey = new SecretKeySpec(secret(properties.clientIdSecret()), "HmacSHA256");
        for (List<String> keys : List.of(properties.apiKeys(), properties.adminKeys())) {
            keys.forEach(k -> clientIdByDigest.put(HEX.formatHex(sha256(k)), clientIdOf(k)));
        }
    }

    Caller identify(String candidate) {
        byte[] digest = sha256(candidate);
        boolean admin = matchesAny(digest, adminDigests);
        boolean user = matchesAny(digest, userDigests);
        if (!admin && !user) {
            return UNKNOWN;
        }
        return new Caller(admin ? Role.ADMIN : Role.USER, clientIdByDigest.get(HEX.formatHex(digest)));
    }

    /** The client id {@code key} gets in this process; tests use it to find a key's rate limiter. */
    String clientIdOf(String key) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(clientIdKey);
            return HEX.formatHex(mac.doFinal(key.getBytes(StandardCharsets.UTF_8)), 0, 6);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] secret(String configured) {
        if (!configured.isEmpty()) {
            return configured.getBytes(StandardCharsets.UTF_8);
        }
        byte[] random = new byte[32];
        new SecureRandom().nextBytes(random);
        return random;
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
