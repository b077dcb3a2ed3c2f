"""The self-contained report page (opens from disk: plots and thumbnails are embedded as data URIs).

Every value is untrusted text (class names and clip ids come from folder names and CSV cells): the template is
rendered with autoescape on, so each `{{ }}` is HTML-escaped (in text and in quoted attributes alike), and link
targets are URL-quoted as well. The page has no script."""
from __future__ import annotations

import jinja2

TEMPLATE = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>skelforge report — {{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.bad{color:#c62828}.thumbs{display:flex;gap:8px;flex-wrap:wrap}
table.qc{font-size:12px}table.qc td.l{white-space:nowrap}figure{margin:0}figcaption{font-size:12px;max-width:320px}img{max-width:100%}
</style></head><body>
<h1>skelforge report — {{ title }}</h1>
<p>{{ build.clips }} clips: {% for k, v in build.status.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}.
Generated from the manifest and the stage cache (no recomputation).</p>
<h2>Per class</h2>
<table><tr><th class="l">class</th><th>id</th><th>clips</th><th>kept</th><th>filtered</th><th>failed</th>
<th>retention</th><th>detection rate</th><th>body</th><th>left hand</th><th>right hand</th><th>face</th>
<th>mean frames</th><th class="l">reasons</th><th class="l">provenance (mean share)</th></tr>
{% for c in classes %}<tr><td class="l">{{ c['class'] }}</td><td>{{ c.label }}</td><td>{{ c.clips }}</td><td>{{ c.kept }}</td>
<td>{{ c.filtered }}</td><td class="{{ 'bad' if c.failed else '' }}">{{ c.failed }}</td><td>{{ '%.0f%%' % (100 * c.retention) }}</td>
<td>{{ fmt(c.detection_rate) }}</td>{% for p in parts %}<td>{{ fmt(c.confidence[p]) }}</td>{% endfor %}
<td>{{ fmt(c.mean_frames, 0) }}</td><td class="l">{% for k, v in c.reasons.items() %}{{ k }} ({{ v }})<br>{% endfor %}</td>
<td class="l">{% for k, v in c.provenance.items() %}{{ k }} {{ '%.2f' % v }}<br>{% endfor %}</td></tr>{% endfor %}
</table>
{% if classes | selectattr('fit3d') | list %}<h2>3D per class (fit3d)</h2>
<p>Per person, the 3D candidate that back-projects best onto the refined 2D keypoints is kept; error = the
confidence-weighted mean reprojection distance divided by the person's 2D body size.</p>
<table><tr><th class="l">class</th><th class="l">persons won</th><th class="l">error: median / p90 (persons)</th></tr>
{% for c in classes if c.fit3d %}<tr><td class="l">{{ c['class'] }}</td>
<td class="l">{% for m, n in c.fit3d.won.items() %}{{ m }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
<td class="l">{% for m, e in c.fit3d.error.items() %}{{ m }} {{ '%.3f' % e.median }} / {{ '%.3f' % e.p90 }} ({{ e.persons }})<br>{% endfor %}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Plots</h2>
<img alt="retention per class" src="{{ plots.retention }}"><br>
<img alt="confidence heatmap" src="{{ plots.heatmap }}">
<h2>Per-clip QC, worst first</h2>
<p>Each class's worst clips, up to {{ table_n }} (every clip is in
<code>quality.json</code> and <code>clips.csv</code> beside this page, worst first). <b>composite</b> = the mean of
six terms in [0, 1], 1 = worst: missing actors (1 − actors ratio), absent parts (1 − mean presence), low
confidence (1 − body confidence), identity (share of person-frames outside each actor's longest switch-free
segment), part violations (largest share of person-frames a hand or the face was dropped for lying off its body)
and jerk (the clip's rank by lag-free jerk in this build, 0 = smoothest). <b>presence</b> = share of the actors'
person-frames where the part exists (half its joints inside the image), with the mean confidence of those points;
an absent part is explained per person-frame by the first reason that holds: actor missing, out of frame (its
expected position off the image), back view (face; shoulders reversed), too small (expected size under 2 px per
landmark gap), not detected.</p>
{% for cls, cs in table.items() %}<h3>{{ cls }} — {{ cs | length }} of {{ counts[cls] }} clips</h3>
<div style="overflow-x:auto"><table class="qc"><tr><th class="l">clip</th><th class="l">status</th><th>composite</th><th class="l">terms</th>
<th>people detected / kept / expected</th><th>pose ratio</th><th>actors ratio</th>
{% for p in qc_parts %}<th>{{ p.replace('_', ' ') }}<br>presence / conf.</th>{% endfor %}
<th class="l">absent: why (share of person-frames)</th><th>identity switches (frames)</th>
<th>part violations (share)</th><th>jerk</th><th>worst frame (shown)</th></tr>
{% for c in cs %}<tr><td class="l">{{ c.clip_id }}</td><td class="l">{{ c.status }}{% if c.why %} ({{ c.why }}){% endif %}</td>
<td class="{{ 'bad' if c.composite >= 0.5 else '' }}">{{ fmt(c.composite) }}</td>
<td class="l">{% for t in terms %}{{ t.replace('_', ' ') }} {{ fmt(c.terms[t]) }}<br>{% endfor %}</td>
<td>{{ c.tracks_detected if c.tracks_detected is not none else '—' }} / {{ c.actors_kept if c.actors_kept is not none else '—' }} / {{ c.actors_expected if c.actors_expected is not none else '—' }}</td>
<td>{{ fmt(c.pose_ratio) }}</td><td>{{ fmt(c.actors_ratio) }}</td>
{% for p in qc_parts %}<td>{{ fmt(c.parts[p].presence) }} / {{ fmt(c.parts[p].confidence) }}</td>{% endfor %}
<td class="l">{% for p in qc_parts %}{% for r, v in c.parts[p].absent.items() %}{{ p.replace('_', ' ') }}: {{ r.replace('_', ' ') }} {{ '%.0f%%' % (100 * v) }}<br>{% endfor %}{% endfor %}</td>
<td>{{ c.identity_switches if c.identity_switches is not none else '—' }}{% if c.identity_switches %} ({% for fs in c.switch_frames %}{{ fs | join(', ') }}{% if not loop.last %}; {% endif %}{% endfor %}){% endif %}</td>
<td>{{ fmt(c.part_violation_share) }}</td><td>{{ fmt(c.jerk, 5) }}</td>
<td>{{ c.worst.frame }} ({{ c.worst.start }}–{{ c.worst.end - 1 }})</td></tr>{% endfor %}
</table></div>{% endfor %}
<h2>Worst clips per class</h2>
<p>The {{ layout }} skeleton drawn on each clip's worst frame (green body, blue left hand, red right hand, yellow
face): the first frame where the per-frame badness peaks — the mean of the share of expected actors without a
pose, the share of the actors' parts absent, and a suspected identity switch (0 or 1). Kept clips link to the
viewer's animation of the {{ viewer_frames }} frames (2 s at 30 FPS) around that frame; each caption says which
frames and why. Draw any clip with <code>skelforge show OUT CLIP_ID --save FILE.mp4|.gif|.png [--3d]</code>.</p>
{% for cls, clips in worst.items() %}<h3>{{ cls }}</h3><div class="thumbs">
{% for t in clips %}<figure>{% if t.thumb %}{% if t.viewer %}<a href="{{ t.viewer | urlencode }}">{% endif %}<img alt="{{ t.clip_id }}" src="{{ t.thumb }}">{% if t.viewer %}</a>{% endif %}{% endif %}
<figcaption>{{ t.clip_id }} — {{ t.status }}{% if t.why %} ({{ t.why }}){% endif %}, composite {{ fmt(t.composite) }};
worst frame {{ t.worst.frame }}: badness {{ fmt(t.worst.badness) }} (actors missing {{ fmt(t.worst.actors_missing) }},
parts absent {{ fmt(t.worst.parts_absent) }}{% if t.worst.switch %}, identity switch{% endif %}){% if t.viewer %};
animation: frames {{ t.worst.start }}–{{ t.worst.end - 1 }}{% endif %}</figcaption></figure>{% endfor %}</div>{% endfor %}
<h2>Whole build</h2>
<p>Seconds and cache hits are those of the build that produced these results; the report's seconds are its
own (reading the cache, measures, thumbnails, animations, the page), all but writing its files.</p>
<table><tr><th class="l">stage</th><th>seconds</th><th>cache hits</th></tr>
{% for s, v in build.seconds_per_stage.items() %}<tr><td class="l">{{ s }}</td><td>{{ v }}</td><td>{{ build.cache_hits.get(s, '—') }}</td></tr>{% endfor %}
</table>
<table><tr><th class="l">not kept: stage: reason</th><th>clips</th></tr>
{% for k, v in build.reasons.items() %}<tr><td class="l">{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>
</body></html>
""")


def fmt(x, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def render(**ctx) -> str:
    return TEMPLATE.render(fmt=fmt, **ctx)
