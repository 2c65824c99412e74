"""`pygrad.viz.step_through`: the backward pass, one node at a time, in a page.

The steps are computed by replaying `backward()` in Python: the same
topological order the engines use (reference.topological_order, which is
also the C core's), each node's local derivatives from the reference
engine's op rules, and `child.grad += local * grad` in the same order, so
the numbers shown are the engine's own, bit for bit (the tests check the
final grads against each engine's backward()). The replay starts from zero
grads, as a fresh graph's first backward does, and never writes to the
graph.

The page is one self-contained HTML file (the SVG drawing, the steps as
JSON, a little inline JS and CSS; nothing fetched), stepped with its
buttons or the arrow keys. In a notebook, `step_through(v)` without a path
returns a StepThrough, which displays inline (in an iframe, so several
views on one page keep their own keys and ids).
"""
import json
from html import escape
from typing import Any, Dict, List

from . import _show
from ._api import ValueBase
from .reference import local_derivatives, topological_order
from .viz import _fmt


def replay(root: Any) -> List[Dict[str, Any]]:
    """The backward sweep from root as a list of steps. Step 0 seeds the
    root's grad; each later step is one node pushing its grad into its
    inputs: [{"node": value, "updates": [(child, local, before, after)]}]."""
    grads: Dict[Any, float] = {}
    grads[root] = 1.0
    steps: List[Dict[str, Any]] = [{"node": root, "grad": 1.0, "updates": []}]
    for node in reversed(topological_order(root)):
        g = grads.get(node, 0.0)
        children = node._children
        local = local_derivatives(node._opcode, [k.data for k in children], node.data)
        updates = []
        for child, d in zip(children, local):
            if d is None:              # no gradient flows there (select's other inputs, max_data)
                continue
            before = grads.get(child, 0.0)
            grads[child] = after = before + d * g
            updates.append((child, d, before, after))
        steps.append({"node": node, "grad": g, "updates": updates})
    return steps


def final_grads(steps: List[Dict[str, Any]]) -> Dict[Any, float]:
    """Each Value's grad after the sweep (0.0 for those it never reaches)."""
    grads = {steps[0]["node"]: steps[0]["grad"]}
    for step in steps[1:]:
        for child, _, _, after in step["updates"]:
            grads[child] = after
    return grads


class StepThrough:
    """The step-through view: `save(path)` writes the page; a notebook shows
    it inline (`_repr_html_`). `html` is the whole page; `steps` the replay."""

    def __init__(self, html: str, steps: List[Dict[str, Any]]) -> None:
        self.html = html
        self.steps = steps

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{escape(self.html, quote=True)}" style="width:100%;height:560px;'
                'border:1px solid #ddd" sandbox="allow-scripts"></iframe>')

    def save(self, path: Any) -> str:
        with open(str(path), "w", encoding="utf-8") as f:
            f.write(self.html)
        return str(path)


def step_through(root: Any, path: Any = None, module: Any = None) -> Any:
    """Step through `root.backward()`: with `path`, write the page there and
    return the path; without, return a StepThrough (shown inline in a
    notebook). `module` names its parameters in the drawing."""
    if not isinstance(root, ValueBase):
        raise TypeError(f"step_through steps through a pygrad Value's backward, not {type(root).__name__}")
    steps = replay(root)
    nodes = _show.build(root, _show.parameter_names(module), None)
    view = StepThrough(page(nodes, steps), steps)
    return view if path is None else view.save(path)


def page(nodes: List[_show.Node], steps: List[Dict[str, Any]]) -> str:
    index = {node.value: i for i, node in enumerate(nodes)}
    names = [node.name or f"v{i}" for i, node in enumerate(nodes)]
    data = {"names": names, "ops": [node.op for node in nodes],
            "steps": [_step_json(step, index) for step in steps]}
    svg = _show.render(_zeroed(nodes), ids=True)
    # </ inside a script would end it: JSON escapes "/" there.
    script = _JS.replace("@DATA@", json.dumps(data).replace("</", "<\\/"))
    return _HTML.format(css=_CSS, svg=svg, script=script)


def _step_json(step: Dict[str, Any], index: Dict[Any, int]) -> Dict[str, Any]:
    g = step["grad"]
    return {"node": index[step["node"]], "grad": repr(g),
            "updates": [{"child": index[child], "local": repr(d), "before": repr(before), "prod": repr(d * g),
                         "after": repr(after), "short": _fmt(after)}
                        for child, d, before, after in step["updates"]]}


def _zeroed(nodes: List[_show.Node]) -> List[_show.Node]:
    """The nodes as drawn before the sweep: every grad 0 (the replay's start)."""
    return [_Zeroed(n) for n in nodes]


class _Zeroed(_show.Node):
    __slots__ = ()

    def __init__(self, node: _show.Node) -> None:
        super().__init__(_ZeroGrad(node.value) if node.value is not None else None, node.name, node.op)
        self.inputs, self.folded, self.more = node.inputs, node.folded, node.more


class _ZeroGrad:
    """A Value's data with grad 0, for drawing."""

    def __init__(self, value: Any) -> None:
        self.data, self.grad = value.data, 0.0


_CSS = """body{font-family:system-ui,sans-serif;margin:8px}
#pg-bar{position:sticky;top:0;background:#fff;padding:4px 0;border-bottom:1px solid #ddd}
#pg-bar button{font-size:14px;margin-right:4px}
#pg-panel{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;margin:8px 0;min-height:5em}
#pg-panel table{border-collapse:collapse}#pg-panel td,#pg-panel th{border:1px solid #ccc;padding:2px 6px}
#pg-graph{overflow:auto}"""

_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pygrad: backward, step by step</title>
<style>{css}</style></head><body>
<div id="pg-bar"><button id="pg-first">&#x00AB; first</button><button id="pg-prev">&#x25C0; back</button>
<button id="pg-next">forward &#x25B6;</button><button id="pg-last">last &#x00BB;</button>
<span id="pg-step"></span> <small>(arrow keys step too)</small></div>
<div id="pg-panel"></div>
<div id="pg-graph">{svg}</div>
<script>{script}</script>
</body></html>
"""

# Numbers arrive as Python's repr strings (exact; nan, inf and -0.0
# included): the page only shows them, it computes nothing.
_JS = r"""(function(){
var D=@DATA@, k=0, n=D.steps.length;
function esc(s){return String(s).replace(/&/g,"&amp;").replace(/</g,"&lt;").replace(/>/g,"&gt;");}
function grads(upto){var g={};var s0=D.steps[0];g[s0.node]=[s0.grad,null];
  for(var i=1;i<=upto;i++){D.steps[i].updates.forEach(function(u){g[u.child]=[u.after,u.short];});}
  return g;}
function short(x){var v=Number(x);return isFinite(v)?v.toFixed(4):x;}
function draw(){
  var g=grads(k), s=D.steps[k], touched={};
  s.updates.forEach(function(u){touched[u.child]=1;});
  for(var i=0;i<D.names.length;i++){
    var t=document.getElementById("pg-g"+i), grp=document.getElementById("pg-n"+i);
    if(!t)continue;
    var v=g[i]?g[i][0]:"0.0";
    t.textContent="grad "+(g[i]&&g[i][1]?g[i][1]:short(v));
    t.setAttribute("data-exact",v);
    grp.setAttribute("class","pg-g"+(i===s.node?" pg-hot":touched[i]?" pg-touched":""));
    if(i===s.node&&grp.scrollIntoView)grp.scrollIntoView({block:"nearest",inline:"center"});
  }
  document.getElementById("pg-step").textContent="step "+k+" of "+(n-1);
  var name=esc(D.names[s.node]), h;
  if(k===0){h="<p>"+name+".grad = "+esc(s.grad)+" &nbsp;(the output: d"+name+"/d"+name+" = 1)</p>";}
  else{h="<p>"+name+" = "+esc(D.ops[s.node])+"(...) pushes its grad "+esc(s.grad)+" into its inputs:</p>"+
    "<table><tr><th>input</th><th>local derivative</th><th>grad += local &times; "+name+".grad</th>"+
    "<th>grad now</th></tr>";
    s.updates.forEach(function(u){h+="<tr class='pg-update'><td>"+esc(D.names[u.child])+"</td><td>"+esc(u.local)+
      "</td><td>"+esc(u.before)+" + "+esc(u.local)+" &times; "+esc(s.grad)+
      "</td><td class='pg-after'>"+esc(u.after)+"</td></tr>";});
    if(!s.updates.length)h+="<tr><td colspan=4>(no gradient flows to its inputs)</td></tr>";
    h+="</table>";}
  document.getElementById("pg-panel").innerHTML=h;
}
function go(j){k=Math.max(0,Math.min(n-1,j));draw();}
document.getElementById("pg-first").onclick=function(){go(0);};
document.getElementById("pg-prev").onclick=function(){go(k-1);};
document.getElementById("pg-next").onclick=function(){go(k+1);};
document.getElementById("pg-last").onclick=function(){go(n-1);};
document.addEventListener("keydown",function(e){
  if(e.key==="ArrowRight"){go(k+1);e.preventDefault();}
  else if(e.key==="ArrowLeft"){go(k-1);e.preventDefault();}});
draw();
})();"""
