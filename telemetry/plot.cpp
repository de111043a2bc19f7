// SVG line plots: ranges, nice ticks, pixel mapping and the SVG text, written by hand (see plot.h).
// Coordinates are printed with two decimals; every piece of user text goes through xml_escape.
#include "telemetry/plot.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <system_error>

#include "core/error.h"
#include "core/text.h"

namespace r1::telemetry {
namespace {

constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0 at all.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') out += ' ';
        else out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // A constant (or numerically constant) range is widened by 10% of its value, or by 1 around zero.
  void widen_if_flat() {
    double scale = std::max(std::abs(lo), std::abs(hi));
    if (hi - lo > 1e-12 * scale && hi > lo) return;
    double pad = scale > 0 ? 0.1 * scale : 1.0;
    lo -= pad;
    hi += pad;
  }
};

double x_at(const Series& s, size_t i) { return s.x.empty() ? static_cast<double>(i) : s.x[i]; }
bool finite_point(const Series& s, size_t i) { return std::isfinite(x_at(s, i)) && std::isfinite(s.y[i]); }

void check_series(const Series& s) {
  if (!s.x.empty() && s.x.size() != s.y.size())
    throw Error("svg_plot: series '" + s.name + "': x has " + std::to_string(s.x.size()) + " values, y has " +
                std::to_string(s.y.size()));
}

void draw_text(std::string& out, double x, double y, const char* anchor, const std::string& text,
               const std::string& extra = "") {
  out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor + "\"" + extra + ">" +
         xml_escape(text) + "</text>\n";
}

// Data coordinates to pixels inside one panel's plot area.
struct Scale {
  PlotLayout::Rect a;
  Range xr, yr;
  double px(double x) const { return a.x + (x - xr.lo) / (xr.hi - xr.lo) * a.width; }
  double py(double y) const { return a.y + (yr.hi - y) / (yr.hi - yr.lo) * a.height; }
};

void draw_labels(std::string& out, const Panel& panel, const PlotLayout::Rect& a, const std::string& x_label) {
  if (!panel.title.empty()) draw_text(out, a.x + a.width / 2, a.y - 10, "middle", panel.title, " font-size=\"14\"");
  if (!panel.y_label.empty())
    out += "<text transform=\"translate(" + num(a.x - 56) + "," + num(a.y + a.height / 2) +
           ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(panel.y_label) + "</text>\n";
  if (!x_label.empty()) draw_text(out, a.x + a.width / 2, a.y + a.height + 38, "middle", x_label);
}

// Gridlines and tick labels.
void draw_grid(std::string& out, const Scale& sc) {
  const PlotLayout::Rect& a = sc.a;
  std::vector<double> xt = nice_ticks(sc.xr.lo, sc.xr.hi), yt = nice_ticks(sc.yr.lo, sc.yr.hi);
  double xstep = xt.size() > 1 ? xt[1] - xt[0] : sc.xr.hi - sc.xr.lo;
  double ystep = yt.size() > 1 ? yt[1] - yt[0] : sc.yr.hi - sc.yr.lo;
  for (double t : yt) {
    out += "<line class=\"grid\" x1=\"" + num(a.x) + "\" y1=\"" + num(sc.py(t)) + "\" x2=\"" + num(a.x + a.width) +
           "\" y2=\"" + num(sc.py(t)) + "\" stroke=\"#e0e0e0\"/>\n";
    draw_text(out, a.x - 6, sc.py(t) + 4, "end", format_tick(t, ystep), " class=\"ytick\"");
  }
  for (double t : xt) {
    out += "<line class=\"grid\" x1=\"" + num(sc.px(t)) + "\" y1=\"" + num(a.y) + "\" x2=\"" + num(sc.px(t)) + "\" y2=\"" +
           num(a.y + a.height) + "\" stroke=\"#e0e0e0\"/>\n";
    draw_text(out, sc.px(t), a.y + a.height + 16, "middle", format_tick(t, xstep), " class=\"xtick\"");
  }
}

// One curve: a polyline per run of finite points; a lone finite point between gaps is a dot.
void draw_series(std::string& out, const Series& s, const std::string& colour, const Scale& sc) {
  out += "<g class=\"series\" data-name=\"" + xml_escape(s.name) + "\" stroke=\"" + colour +
         "\" fill=\"none\" stroke-width=\"1.5\" stroke-linejoin=\"round\">\n";
  for (size_t i = 0; i < s.y.size();) {
    if (!finite_point(s, i)) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.y.size() && finite_point(s, j)) ++j;
    if (j - i == 1) {
      out += "<circle cx=\"" + num(sc.px(x_at(s, i))) + "\" cy=\"" + num(sc.py(s.y[i])) + "\" r=\"2\" fill=\"" + colour +
             "\" stroke=\"none\"/>\n";
    } else {
      out += "<polyline points=\"";
      for (size_t p = i; p < j; ++p) {
        if (p > i) out += ' ';
        out += num(sc.px(x_at(s, p)));
        out += ',';
        out += num(sc.py(s.y[p]));
      }
      out += "\"/>\n";
    }
    i = j;
  }
  out += "</g>\n";
}

// Legend, top right inside the plot area; only when there is more than one series.
void draw_legend(std::string& out, const Panel& panel, const PlotLayout::Rect& a) {
  if (panel.series.size() <= 1) return;
  size_t longest = 0;
  for (const Series& s : panel.series) longest = std::max(longest, s.name.size());
  double w = 34 + 7.0 * static_cast<double>(longest), h = 8 + 16.0 * static_cast<double>(panel.series.size());
  double lx = a.x + a.width - w - 6, ly = a.y + 6;
  out += "<g class=\"legend\">\n<rect x=\"" + num(lx) + "\" y=\"" + num(ly) + "\" width=\"" + num(w) +
         "\" height=\"" + num(h) + "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n";
  for (size_t k = 0; k < panel.series.size(); ++k) {
    double ry = ly + 12 + 16.0 * static_cast<double>(k);
    out += "<line x1=\"" + num(lx + 6) + "\" y1=\"" + num(ry) + "\" x2=\"" + num(lx + 24) + "\" y2=\"" + num(ry) +
           "\" stroke=\"" + kColours[k % std::size(kColours)] + "\" stroke-width=\"2\"/>\n";
    draw_text(out, lx + 28, ry + 4, "start", panel.series[k].name);
  }
  out += "</g>\n";
}

void draw_panel(std::string& out, const Panel& panel, const PlotLayout::Rect& a, const std::string& x_label) {
  out += "<g class=\"panel\">\n";
  draw_labels(out, panel, a, x_label);
  Scale sc{a, {}, {}};
  for (const Series& s : panel.series)
    for (size_t i = 0; i < s.y.size(); ++i)
      if (finite_point(s, i)) {
        sc.xr.add(x_at(s, i));
        sc.yr.add(s.y[i]);
      }
  const std::string frame = "<rect x=\"" + num(a.x) + "\" y=\"" + num(a.y) + "\" width=\"" + num(a.width) +
                            "\" height=\"" + num(a.height) + "\" fill=\"none\" stroke=\"#444\"/>\n";
  if (!(sc.xr.lo <= sc.xr.hi)) {  // no finite point at all
    out += frame;
    draw_text(out, a.x + a.width / 2, a.y + a.height / 2, "middle", "no data", " class=\"no-data\" fill=\"#888\"");
    out += "</g>\n";
    return;
  }
  sc.xr.widen_if_flat();
  sc.yr.widen_if_flat();
  draw_grid(out, sc);
  out += frame;
  for (size_t k = 0; k < panel.series.size(); ++k)
    draw_series(out, panel.series[k], kColours[k % std::size(kColours)], sc);
  draw_legend(out, panel, a);
  out += "</g>\n";
}

}  // namespace

PlotLayout::Rect PlotLayout::plot_area(size_t index) const {
  return {margin_left, title_height + static_cast<double>(index) * panel_height + margin_top,
          width - margin_left - margin_right, panel_height - margin_top - margin_bottom};
}

double PlotLayout::height(size_t panels) const {
  return title_height + static_cast<double>(std::max<size_t>(panels, 1)) * panel_height;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo) || target < 1) return {};
  double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  auto count = [&](double step) {
    return std::floor(hi / step + 1e-9) - std::ceil(lo / step - 1e-9) + 1;
  };
  double best = 0, best_miss = std::numeric_limits<double>::infinity();
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {  // ascending steps: with <=, a tie goes to the larger step
    double step = m * mag, miss = std::abs(count(step) - target);
    if (miss <= best_miss) {
      best = step;
      best_miss = miss;
    }
  }
  std::vector<double> ticks;
  for (double k = std::ceil(lo / best - 1e-9); k <= std::floor(hi / best + 1e-9); k += 1) {
    double t = k * best;
    ticks.push_back(std::abs(t) < best * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string format_tick(double value, double step) {
  step = std::abs(step);
  if (!(step > 0) || !std::isfinite(step)) step = std::abs(value);
  char buf[48];
  if (step >= 1e-3 && std::abs(value) < 1e6) {
    int d = 0;  // the fewest decimals that show the step exactly: 0.25 -> 2, 0.2 -> 1, 5 -> 0
    for (double s = step; d < 6 && std::abs(s - std::round(s)) > 1e-6 * s; s *= 10) ++d;
    std::snprintf(buf, sizeof buf, "%.*f", d, value);
  } else if (value == 0) {
    return "0";
  } else {
    int digits = static_cast<int>(std::floor(std::log10(std::abs(value))) - std::floor(std::log10(step))) + 2;
    std::snprintf(buf, sizeof buf, "%.*g", std::clamp(digits, 1, 17), value);
  }
  return buf;
}

std::string svg_plot(const std::vector<Panel>& panels, const std::string& title, const std::string& x_label,
                     const PlotLayout& layout) {
  for (const Panel& p : panels)
    for (const Series& s : p.series) check_series(s);
  const std::string w = num(layout.width), h = num(layout.height(panels.size()));
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    w + "\" height=\"" + h + "\" viewBox=\"0 0 " + w + " " + h +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!title.empty())
    draw_text(out, layout.width / 2, layout.title_height * 0.7, "middle", title,
              " font-size=\"16\" font-weight=\"bold\"");
  if (panels.empty()) draw_panel(out, Panel{}, layout.plot_area(0), x_label);
  for (size_t i = 0; i < panels.size(); ++i) draw_panel(out, panels[i], layout.plot_area(i), x_label);
  out += "</svg>\n";
  return out;
}

void write_svg_plot(const std::string& path, const std::vector<Panel>& panels, const std::string& title,
                    const std::string& x_label, const PlotLayout& layout) {
  write_file_atomic(path, svg_plot(panels, title, x_label, layout));
}

}  // namespace r1::telemetry
