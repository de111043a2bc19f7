// telemetry/plot: the SVG is well-formed XML (checked by Python's parser), points land on the pixels the
// layout says, ticks are the nice ones, NaN/inf leave gaps, text is escaped, empty and constant input
// draw something sensible, and write_svg_plot replaces files atomically and names the path on failure.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <regex>

#include "core/error.h"
#include "telemetry/plot.h"

namespace fs = std::filesystem;
using r1::telemetry::Panel;
using r1::telemetry::PlotLayout;
using r1::telemetry::Series;
using r1::telemetry::svg_plot;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

const fs::path kRoot = fs::temp_directory_path() / ("r1_test_plot_" + std::to_string(getpid()));
struct RemoveRoot {
  ~RemoveRoot() {
    std::error_code ec;
    fs::remove_all(kRoot, ec);
  }
} remove_root;

fs::path temp_dir() {
  fs::path dir = kRoot;
  fs::create_directories(dir);
  return dir;
}

// Python's XML parser accepts the document (exit status 0).
bool well_formed(const std::string& svg) {
  fs::path file = temp_dir() / "check.svg";
  std::ofstream(file) << svg;
  std::string cmd = "/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' " +
                    file.string();
  return std::system(cmd.c_str()) == 0;
}

struct Point {
  double x, y;
};
// The body of `<g class="series" data-name="NAME" ...>` up to its `</g>`.
std::string series_group(const std::string& svg, const std::string& escaped_name) {
  auto at = svg.find("<g class=\"series\" data-name=\"" + escaped_name + "\"");
  REQUIRE(at != std::string::npos);
  return svg.substr(at, svg.find("</g>", at) - at);
}
std::vector<std::vector<Point>> polylines(const std::string& text) {
  std::vector<std::vector<Point>> out;
  std::regex line(R"(<polyline points="([^"]*)\")"), point(R"((-?[0-9.]+),(-?[0-9.]+))");
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) {
    std::string pts = (*it)[1];
    out.emplace_back();
    for (std::sregex_iterator p(pts.begin(), pts.end(), point); p != end; ++p)
      out.back().push_back({std::stod((*p)[1]), std::stod((*p)[2])});
  }
  return out;
}
size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}
// (label, y) of each y tick label, top panel first.
std::vector<std::pair<std::string, double>> y_ticks(const std::string& svg) {
  std::vector<std::pair<std::string, double>> out;
  std::regex tick(R"re(<text x="[0-9.]+" y="([0-9.]+)" text-anchor="end" class="ytick">([^<]*)</text>)re");
  for (std::sregex_iterator it(svg.begin(), svg.end(), tick), end; it != end; ++it)
    out.emplace_back((*it)[2], std::stod((*it)[1]));
  return out;
}

}  // namespace

TEST_CASE("plot: nice ticks and their labels", "[plot]") {
  using r1::telemetry::format_tick;
  using r1::telemetry::nice_ticks;
  auto ticks = nice_ticks(0, 0.87);
  REQUIRE(ticks.size() == 5);
  for (size_t i = 0; i < 5; ++i) CHECK(ticks[i] == Approx(0.2 * static_cast<double>(i)).margin(1e-12));
  CHECK(nice_ticks(-1, 1) == std::vector<double>{-1, -0.5, 0, 0.5, 1});
  CHECK(nice_ticks(0, 100) == std::vector<double>{0, 25, 50, 75, 100});
  CHECK(nice_ticks(3, 1003) == std::vector<double>{200, 400, 600, 800, 1000});
  auto tiny = nice_ticks(1e-5, 5.3e-5);
  REQUIRE(tiny.size() == 5);
  CHECK(tiny.front() == Approx(1e-5));
  CHECK(tiny.back() == Approx(5e-5));
  CHECK(nice_ticks(1, 1).empty());
  CHECK(nice_ticks(0, kNaN).empty());

  CHECK(format_tick(0.4, 0.2) == "0.4");
  CHECK(format_tick(0.75, 0.25) == "0.75");
  CHECK(format_tick(100, 25) == "100");
  CHECK(format_tick(-0.5, 0.5) == "-0.5");
  CHECK(format_tick(0, 0.2) == "0.0");
  CHECK(format_tick(0, 25) == "0");
  CHECK(format_tick(0, 1e-5) == "0");
  CHECK(format_tick(2.5e-5, 2.5e-5) == "2.5e-05");
  CHECK(format_tick(1.5e6, 5e5) == "1.5e+06");
}

TEST_CASE("plot: points map to the plot area's pixels - ticks sit on the same scale", "[plot]") {
  const PlotLayout layout;
  Panel top{"reward", "mean", {{"r", {10, 20, 30, 40, 50}, {0.1, 0.87, 0.4, 0.0, 0.6}}}};
  Panel bottom{"loss", "", {{"l", {}, {5, 1, 3}}}};  // x defaults to 0, 1, 2
  std::string svg = svg_plot({top, bottom}, "run", "step", layout);
  REQUIRE(well_formed(svg));

  auto a = layout.plot_area(0);
  auto lines = polylines(series_group(svg, "r"));
  REQUIRE(lines.size() == 1);
  REQUIRE(lines[0].size() == 5);
  CHECK(lines[0][0].x == Approx(a.x).margin(0.01));                      // x min: left edge
  CHECK(lines[0][4].x == Approx(a.x + a.width).margin(0.01));            // x max: right edge
  CHECK(lines[0][2].x == Approx(a.x + a.width / 2).margin(0.01));
  CHECK(lines[0][1].y == Approx(a.y).margin(0.01));                      // y max: top
  CHECK(lines[0][3].y == Approx(a.y + a.height).margin(0.01));           // y min: bottom
  CHECK(lines[0][2].y == Approx(a.y + a.height * (0.87 - 0.4) / 0.87).margin(0.01));

  auto b = layout.plot_area(1);
  CHECK(b.y > a.y + a.height);
  auto low = polylines(series_group(svg, "l"));
  REQUIRE(low.size() == 1);
  REQUIRE(low[0].size() == 3);
  CHECK(low[0][0].x == Approx(b.x).margin(0.01));
  CHECK(low[0][0].y == Approx(b.y).margin(0.01));
  CHECK(low[0][1].y == Approx(b.y + b.height).margin(0.01));
  CHECK(low[0][2].y == Approx(b.y + b.height / 2).margin(0.01));

  // The top panel's y ticks: 0, 0.2, ..., 0.8 at their pixel rows (labels are drawn 4 px lower).
  auto ticks = y_ticks(svg);
  REQUIRE(ticks.size() >= 5);
  const std::vector<std::string> want = {"0.0", "0.2", "0.4", "0.6", "0.8"};
  for (size_t i = 0; i < 5; ++i) {
    CHECK(ticks[i].first == want[i]);
    CHECK(ticks[i].second - 4 == Approx(a.y + a.height * (0.87 - 0.2 * static_cast<double>(i)) / 0.87).margin(0.01));
  }
  CHECK(count(svg, "class=\"legend\"") == 0);  // one series per panel: no legend
  CHECK(svg.find(">step</text>") != std::string::npos);
  CHECK(svg.find(">reward</text>") != std::string::npos);
}

TEST_CASE("plot: NaN and inf leave gaps - every finite point is drawn once", "[plot]") {
  Panel p{"p", "", {{"gappy", {}, {1, 2, kNaN, 3, 4, kInf, 5}}, {"x_gap", {0, kNaN, 2, 3}, {1, 1, -kInf, 2}}}};
  std::string svg = svg_plot({p}, "", "");
  REQUIRE(well_formed(svg));
  std::string g = series_group(svg, "gappy");
  auto lines = polylines(g);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].size() == 2);
  CHECK(lines[1].size() == 2);
  CHECK(count(g, "<circle") == 1);  // the lone 5 after the inf
  CHECK(lines[0][1].x < lines[1][0].x);
  std::string h = series_group(svg, "x_gap");  // (0,1) alone, then (3,2) alone: x NaN and y -inf skipped
  CHECK(polylines(h).empty());
  CHECK(count(h, "<circle") == 2);
  CHECK(count(svg, "class=\"legend\"") == 1);  // two series: a legend
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
}

TEST_CASE("plot: text is XML-escaped", "[plot]") {
  Panel p{"a<b & c>d", "\"quoted\" 'y'", {{"s<1>&", {}, {1, 2}}, {"t", {}, {2, 1}}}};
  std::string svg = svg_plot({p}, "<&>", "x & y");
  REQUIRE(well_formed(svg));
  CHECK(svg.find("&lt;&amp;&gt;") != std::string::npos);
  CHECK(svg.find("<&>") == std::string::npos);
  CHECK(svg.find("a&lt;b &amp; c&gt;d") != std::string::npos);
  CHECK(svg.find("&quot;quoted&quot; &apos;y&apos;") != std::string::npos);
  CHECK(svg.find(">s&lt;1&gt;&amp;</text>") != std::string::npos);  // legend
  CHECK(polylines(series_group(svg, "s&lt;1&gt;&amp;")).size() == 1);
  CHECK(svg.find(">x &amp; y</text>") != std::string::npos);
}

TEST_CASE("plot: empty input says no data - a constant series gets a range", "[plot]") {
  std::string none = svg_plot({}, "empty", "step");
  CHECK(well_formed(none));
  CHECK(count(none, ">no data<") == 1);

  Panel empty{"e", "", {}};
  Panel empty_series{"es", "", {{"s", {}, {}}}};
  Panel all_nan{"nan", "", {{"s", {1, 2}, {kNaN, kNaN}}}};
  Panel constant{"c", "", {{"c", {}, {0.5, 0.5, 0.5}}}};
  Panel single{"one", "", {{"one", {7}, {3}}}};
  std::string svg = svg_plot({empty, empty_series, all_nan, constant, single}, "", "");
  REQUIRE(well_formed(svg));
  CHECK(count(svg, ">no data<") == 3);
  const PlotLayout layout;
  auto c = layout.plot_area(3);
  auto lines = polylines(series_group(svg, "c"));
  REQUIRE(lines.size() == 1);
  REQUIRE(lines[0].size() == 3);
  for (const Point& pt : lines[0]) CHECK(pt.y == Approx(c.y + c.height / 2).margin(0.01));
  CHECK(lines[0][2].x == Approx(c.x + c.width).margin(0.01));
  auto one = layout.plot_area(4);
  std::string g = series_group(svg, "one");
  char centre[64];  // the lone point sits in the middle of both widened ranges
  std::snprintf(centre, sizeof centre, "cx=\"%.2f\" cy=\"%.2f\"", one.x + one.width / 2, one.y + one.height / 2);
  CHECK_THAT(g, Catch::Contains(centre));

  Series bad{"bad", {1, 2, 3}, {1, 2}};
  CHECK_THROWS_WITH(svg_plot({Panel{"p", "", {bad}}}, "", ""),
                    "svg_plot: series 'bad': x has 3 values, y has 2");
}

TEST_CASE("plot: write_svg_plot replaces the file atomically and names the path on failure", "[plot]") {
  fs::path dir = temp_dir() / "write";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string path = (dir / "metrics.svg").string();
  std::ofstream(path) << "old";
  std::vector<Panel> panels = {{"p", "", {{"s", {}, {1, 2, 3}}}}};
  r1::telemetry::write_svg_plot(path, panels, "t", "step");
  std::ifstream in(path);
  std::string got{std::istreambuf_iterator<char>(in), {}};
  CHECK(got == svg_plot(panels, "t", "step"));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 1);  // no temp file left

  std::string missing = (dir / "no_such_dir" / "x.svg").string();
  CHECK_THROWS_AS(r1::telemetry::write_svg_plot(missing, panels, "", ""), r1::Error);
  CHECK_THROWS_WITH(r1::telemetry::write_svg_plot(missing, panels, "", ""), Catch::Contains(missing));
  fs::create_directories(dir / "a_dir.svg");
  std::string onto_dir = (dir / "a_dir.svg").string();
  CHECK_THROWS_WITH(r1::telemetry::write_svg_plot(onto_dir, panels, "", ""), Catch::Contains(onto_dir));
  CHECK(fs::is_directory(onto_dir));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 2);  // temp file removed
}
