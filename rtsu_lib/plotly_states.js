// Switches a plotly figure between precomputed states when its sliders or menus move (rtsu_lib.plotly_states).
// "{plot_id}" is the figure's div; STATE_TABLE is replaced by the controls, states and shared values.
(function () {
  var figure = document.getElementById("{plot_id}");
  var table = STATE_TABLE;
  var position = table.controls.map(function (control) { return control.active; });

  function resolve(value) {
    var isReference = value !== null && typeof value === "object" && !Array.isArray(value) && "$ref" in value;
    return isReference ? table.shared[value["$ref"]] : value;
  }

  function currentState() {
    var flat = 0;
    table.controls.forEach(function (control, i) { flat = flat * control.count + position[i]; });
    return table.states[flat];
  }

  function show(state) {
    Object.keys(state.traces).forEach(function (index) {
      var update = {};
      Object.keys(state.traces[index]).forEach(function (key) {
        update[key] = [resolve(state.traces[index][key])];
      });
      Plotly.restyle(figure, update, [Number(index)]);
    });
    var layout = {};
    Object.keys(state.layout).forEach(function (key) { layout[key] = resolve(state.layout[key]); });
    Plotly.relayout(figure, layout);
  }

  function moved(name, active) {
    table.controls.forEach(function (control, i) { if (control.name === name) { position[i] = active; } });
    show(currentState());
  }

  figure.on("plotly_sliderchange", function (event) { moved(event.slider.name, event.step._index); });
  figure.on("plotly_buttonclicked", function (event) { moved(event.menu.name, event.active); });
})();
