package io.kvpilot.engine.template;

import io.kvpilot.engine.template.TemplateException.Kind;
import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/** Python's {@code strftime} for the directives date strings in templates use. */
final class Strftime {
    private Strftime() {}

    static String format(String pattern, LocalDateTime t, int line) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < pattern.length(); i++) {
            char c = pattern.charAt(i);
            if (c != '%' || i + 1 >= pattern.length()) {
                b.append(c);
                continue;
            }
            char d = pattern.charAt(++i);
            boolean noPad = d == '-' && i + 1 < pattern.length();
            if (noPad) {
                d = pattern.charAt(++i);
            }
            String two = noPad ? "%d" : "%02d";
            switch (d) {
                case 'd' -> b.append(String.format(two, t.getDayOfMonth()));
                case 'm' -> b.append(String.format(two, t.getMonthValue()));
                case 'Y' -> b.append(t.getYear());
                case 'y' -> b.append(String.format(two, t.getYear() % 100));
                case 'H' -> b.append(String.format(two, t.getHour()));
                case 'I' -> b.append(String.format(two, (t.getHour() + 11) % 12 + 1));
                case 'M' -> b.append(String.format(two, t.getMinute()));
                case 'S' -> b.append(String.format(two, t.getSecond()));
                case 'p' -> b.append(t.getHour() < 12 ? "AM" : "PM");
                case 'j' -> b.append(String.format(noPad ? "%d" : "%03d", t.getDayOfYear()));
                case 'B' -> b.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'b' -> b.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> b.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'a' -> b.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case '%' -> b.append('%');
                default -> throw TemplateException.at(Kind.UNSUPPORTED, line, "strftime directive %" + d
                        + " is not supported");
            }
        }
        return b.toString();
    }
}
