package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Roles, and client ids that name a key without letting anyone test guesses against it. */
class ApiKeysTest {

    private static ApiKeys keys(String secret) {
        return new ApiKeys(new SecurityProperties(List.of("user-key"), List.of("admin-key"), secret,
                SecurityProperties.Cors.allowing()));
    }

    @Test
    void rolesFollowTheConfiguredLists() {
        ApiKeys keys = keys("");

        assertThat(keys.identify("user-key").role()).isEqualTo(ApiKeys.Role.USER);
        assertThat(keys.identify("admin-key").role()).isEqualTo(ApiKeys.Role.ADMIN);
        assertThat(keys.identify("guess")).isEqualTo(new ApiKeys.Caller(ApiKeys.Role.NONE, null));
    }

    @Test
    void eachKeyHasItsOwnClientIdWhichIsNotAPlainHashOfTheKey() throws Exception {
        ApiKeys keys = keys("");
        String unsalted = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest("user-key".getBytes(StandardCharsets.UTF_8)), 0, 6);

        String user = keys.identify("user-key").clientId();

        assertThat(user).hasSize(12).isEqualTo(keys.clientIdOf("user-key")).isNotEqualTo(unsalted);
        assertThat(keys.identify("admin-key").clientId()).isNotEqualTo(user);
    }

    @Test
    void withoutAConfiguredSecretIdsDifferFromProcessToProcess() {
        assertThat(keys("").clientIdOf("user-key")).isNotEqualTo(keys("").clientIdOf("user-key"));
    }

    @Test
    void aConfiguredSecretKeepsIdsStableAcrossRestarts() {
        assertThat(keys("s3cret").clientIdOf("user-key")).isEqualTo(keys("s3cret").clientIdOf("user-key"))
                .isNotEqualTo(keys("other").clientIdOf("user-key"));
    }
}
