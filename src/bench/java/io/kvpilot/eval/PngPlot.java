package io.kvpilot.eval;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Line2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * A small headless line/scatter plotter on {@link BufferedImage} (Java2D, PNG through ImageIO): a row of panels, each
 * with axes, ticks, grid, titled series (lines with markers, or markers only) and a legend. No plotting library.
 */
public final class PngPlot {

    /** One series: points in x order; {@code lines} joins them. */
    public record Series(String name, double[] x, double[] y, boolean lines) {}

    /** One panel of the figure. */
    public static final class Panel {
        final String title;
        final String xLabel;
        final String yLabel;
        final List<Series> series = new ArrayList<>();
        double yMin = Double.NaN;
        double yMax = Double.NaN;
        double xMin = Double.NaN;
        double xMax = Double.NaN;

        public Panel(String title, String xLabel, String yLabel) {
            this.title = title;
            this.xLabel = xLabel;
            this.yLabel = yLabel;
        }

        public Panel add(Series s) {
            series.add(s);
            return this;
        }

        public Panel yRange(double min, double max) {
            yMin = min;
            yMax = max;
            return this;
        }

        public Panel xRange(double min, double max) {
            xMin = min;
            xMax = max;
            return this;
        }
    }

    private static final Color[] PALETTE = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44),
        new Color(214, 39, 40), new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194),
        new Color(127, 127, 127), new Color(188, 189, 34), new Color(23, 190, 207), Color.BLACK};

    private PngPlot() {}

    /** Writes the panels side by side, sharing one legend (series matched by name across panels). */
    public static void write(Path file, String title, List<Panel> panels) throws IOException {
        System.setProperty("java.awt.headless", "true");
        Map<String, Integer> colors = new LinkedHashMap<>();
        for (Panel p : panels) {
            for (Series s : p.series) {
                colors.putIfAbsent(s.name(), colors.size());
            }
        }
        int pw = 430, ph = 360, legendW = 230, top = 40;
        BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D pg = probe.createGraphics();
        int titleW = pg.getFontMetrics(new Font(Font.SANS_SERIF, Font.BOLD, 15)).stringWidth(title);
        pg.dispose();
        int w = Math.max(pw * panels.size() + legendW, titleW + 30), h = ph + top + 10;
        h = Math.max(h, top + 20 + 18 * colors.size());
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(title, 12, 22);
        for (int i = 0; i < panels.size(); i++) {
            drawPanel(g, panels.get(i), i * pw, top, pw, ph, colors);
        }
        // legend
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int lx = pw * panels.size() + 10, ly = top + 20;
        for (Map.Entry<String, Integer> e : colors.entrySet()) {
            Color c = PALETTE[e.getValue() % PALETTE.length];
            g.setColor(c);
            g.setStroke(new BasicStroke(2f));
            g.draw(new Line2D.Double(lx, ly - 4, lx + 22, ly - 4));
            marker(g, e.getValue(), lx + 11, ly - 4);
            g.setColor(Color.BLACK);
            g.drawString(e.getKey(), lx + 28, ly);
            ly += 18;
        }
        g.dispose();
        Files.createDirectories(file.toAbsolutePath().getParent());
        ImageIO.write(img, "png", file.toFile());
    }

    private static void drawPanel(Graphics2D g, Panel p, int ox, int oy, int pw, int ph, Map<String, Integer> colors) {
        int left = ox + 62, right = ox + pw - 14, topY = oy + 24, bottom = oy + ph - 46;
        double xMin = p.xMin, xMax = p.xMax, yMin = p.yMin, yMax = p.yMax;
        double[] xr = range(p, true), yr = range(p, false);
        if (Double.isNaN(xMin)) {
            xMin = xr[0];
            xMax = xr[1];
        }
        if (Double.isNaN(yMin)) {
            yMin = yr[0];
            yMax = yr[1];
        }
        if (xMax <= xMin) {
            xMax = xMin + 1;
        }
        if (yMax <= yMin) {
            yMax = yMin + 1;
        }
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
        g.setColor(Color.BLACK);
        String head = p.title;
        while (head.length() > 4 && g.getFontMetrics().stringWidth(head) > pw - 20) {
            head = head.substring(0, head.length() - 2);
        }
        g.drawString(head.equals(p.title) ? head : head + "…", ox + 12, oy + 14);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        FontMetrics fm = g.getFontMetrics();
        double[] xt = ticks(xMin, xMax), yt = ticks(yMin, yMax);
        for (double t : yt) {
            int y = (int) Math.round(map(t, yMin, yMax, bottom, topY));
            g.setColor(new Color(230, 230, 230));
            g.drawLine(left, y, right, y);
            g.setColor(Color.BLACK);
            String s = fmt(t);
            g.drawString(s, left - 6 - fm.stringWidth(s), y + 4);
        }
        for (double t : xt) {
            int x = (int) Math.round(map(t, xMin, xMax, left, right));
            g.setColor(new Color(230, 230, 230));
            g.drawLine(x, topY, x, bottom);
            g.setColor(Color.BLACK);
            String s = fmt(t);
            g.drawString(s, x - fm.stringWidth(s) / 2, bottom + 15);
        }
        g.setColor(Color.BLACK);
        g.drawRect(left, topY, right - left, bottom - topY);
        g.drawString(p.xLabel, (left + right - fm.stringWidth(p.xLabel)) / 2, bottom + 32);
        AffineTransform at = g.getTransform();
        g.rotate(-Math.PI / 2);
        g.drawString(p.yLabel, -(topY + bottom + fm.stringWidth(p.yLabel)) / 2, ox + 14);
        g.setTransform(at);
        java.awt.Shape clip = g.getClip();
        g.setClip(left - 5, topY - 5, right - left + 10, bottom - topY + 10);
        for (Series s : p.series) {
            int ci = colors.get(s.name());
            g.setColor(PALETTE[ci % PALETTE.length]);
            g.setStroke(new BasicStroke(2f));
            double px = Double.NaN, py = Double.NaN;
            for (int i = 0; i < s.x().length; i++) {
                if (Double.isNaN(s.y()[i])) {
                    continue;
                }
                double x = map(s.x()[i], xMin, xMax, left, right), y = map(s.y()[i], yMin, yMax, bottom, topY);
                if (s.lines() && !Double.isNaN(px)) {
                    g.draw(new Line2D.Double(px, py, x, y));
                }
                marker(g, ci, x, y);
                px = x;
                py = y;
            }
        }
        g.setClip(clip);
        g.setStroke(new BasicStroke(1f));
    }

    private static void marker(Graphics2D g, int kind, double x, double y) {
        int r = 4;
        int ix = (int) Math.round(x), iy = (int) Math.round(y);
        switch (kind % 4) {
            case 0 -> g.fillOval(ix - r, iy - r, 2 * r, 2 * r);
            case 1 -> g.fillRect(ix - r, iy - r, 2 * r, 2 * r);
            case 2 -> g.fillPolygon(new int[] {ix, ix + r + 1, ix - r - 1}, new int[] {iy - r - 1, iy + r, iy + r}, 3);
            default -> g.fillPolygon(new int[] {ix, ix + r + 1, ix, ix - r - 1}, new int[] {iy - r - 1, iy, iy + r + 1, iy}, 4);
        }
    }

    private static double[] range(Panel p, boolean xAxis) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (Series s : p.series) {
            for (double v : xAxis ? s.x() : s.y()) {
                if (!Double.isNaN(v) && !Double.isInfinite(v)) {
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
        }
        if (lo > hi) {
            return new double[] {0, 1};
        }
        double pad = (hi - lo) * 0.05 + 1e-9;
        return new double[] {lo - pad, hi + pad};
    }

    static double map(double v, double a, double b, double pa, double pb) {
        return pa + (v - a) / (b - a) * (pb - pa);
    }

    static double[] ticks(double lo, double hi) {
        double span = hi - lo, raw = span / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
        List<Double> t = new ArrayList<>();
        for (double v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) {
            t.add(Math.abs(v) < 1e-12 * span ? 0 : v);
        }
        return t.stream().mapToDouble(Double::doubleValue).toArray();
    }

    static String fmt(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e6) {
            return Long.toString((long) v);
        }
        String s = String.format(Locale.ROOT, "%.3f", v);
        return s.replaceAll("0+$", "").replaceAll("\\.$", "");
    }
}
