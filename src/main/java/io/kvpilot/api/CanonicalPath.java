package io.kvpilot.api;

/**
 * Whether a raw request path has exactly one reading. The router matches the decoded path ({@code %61dmin} is
 * {@code admin}) without {@code ;params}, and Reactor Netty passes {@code .} and {@code ..} segments through as they
 * came; a key check on the raw path and a router on the decoded one disagreed, and {@code /%61dmin/scheduler} reached
 * the admin handler without a key. Only one form is served: {@code /} or {@code /segment/segment...}, each segment
 * non-empty, made of RFC 3986 unreserved characters ({@code A-Z a-z 0-9 - . _ ~}) and neither {@code .} nor
 * {@code ..}. That refuses any {@code %}, {@code ;}, backslash, {@code //} and a trailing {@code /}, so the raw path is
 * the path the router matches, and the key filter can authorize on it.
 */
final class CanonicalPath {

    private CanonicalPath() {}

    static boolean isCanonical(String rawPath) {
        if (rawPath.equals("/")) {
            return true;
        }
        if (rawPath.isEmpty() || rawPath.charAt(0) != '/') {
            return false;
        }
        int segmentStart = 1;
        for (int i = 1; i <= rawPath.length(); i++) {
            if (i == rawPath.length() || rawPath.charAt(i) == '/') {
                if (i == segmentStart || isDotSegment(rawPath, segmentStart, i)) {
                    return false;
                }
                segmentStart = i + 1;
            } else if (!isUnreserved(rawPath.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    private static boolean isDotSegment(String path, int start, int end) {
        int length = end - start;
        return (length == 1 || length == 2) && path.charAt(start) == '.' && path.charAt(end - 1) == '.';
    }

    private static boolean isUnreserved(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
                || c == '_' || c == '~';
    }
}
