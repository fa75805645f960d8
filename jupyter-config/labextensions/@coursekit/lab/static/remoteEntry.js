// coursekit's JupyterLab extension: nbgrader's Validate button only on notebooks that are assignments, and its
// dialog reading as `coursekit check`'s report.
//
// nbgrader's lab extension adds Validate to the toolbar of every notebook, lectures included, where it has nothing
// to check. This plugin hides it on a notebook none of whose cells carries nbgrader metadata (a lecture, a scratch
// notebook) and shows it again as soon as one does (a released assignment, its source, a notebook an instructor is
// making into one).
//
// It is a prebuilt ("federated") JupyterLab 4 extension written by hand: JupyterLab loads this file, takes the
// container registered in window._JUPYTERLAB under the package's name, and activates the plugins its
// "./extension" module exports.
//
// Validate's answer is `coursekit check`'s report (coursekit/course/lab_validate.py), given to nbgrader's dialog as
// one "failed cell" whose text is the verdict line and whose details carry a marker element; for such an answer
// the stylesheet below hides nbgrader's "The following cell failed:" heading (the verdict is not a cell) and sets
// the verdict line in bold. The plugin's stylesheet is its only other effect. The plugin shares and imports no module (it uses only the application object
// JupyterLab passes to activate), so it needs no build step, no npm and no webpack. `make lab` and the browser
// tests find it through jupyter_server_config.py (LabApp.extra_labextensions_path).
(function () {
  "use strict";

  var NAME = "@coursekit/lab";

  // true when a cell has nbgrader's metadata for a graded, solution, locked or task cell
  function isAssignment(model) {
    var cells = model && model.cells;
    if (!cells) {
      return false;
    }
    for (var i = 0; i < cells.length; i++) {
      var cell = cells.get(i);
      var meta = typeof cell.getMetadata === "function" ? cell.getMetadata("nbgrader")
                                                        : (cell.metadata || {}).nbgrader;
      if (meta && (meta.grade || meta.solution || meta.locked || meta.task)) {
        return true;
      }
    }
    return false;
  }

  // the toolbar items holding nbgrader's button (class validate-button, rendered by React inside the item)
  function validateItems(panel) {
    var found = [];
    for (var item of panel.toolbar.children()) {
      if (item.node.querySelector(".validate-button")) {
        found.push(item);
      }
    }
    return found;
  }

  function update(panel, context) {
    if (panel.isDisposed || !context.isReady) {
      return;
    }
    var show = isAssignment(context.model);
    panel.toggleClass("coursekit-mod-assignment", show);
    validateItems(panel).forEach(function (item) {
      if (show && item.isHidden) {
        item.show();
      } else if (!show && !item.isHidden) {
        item.hide();
      }
    });
  }

  var validateOnAssignments = {
    createNew: function (panel, context) {
      // the button may be added or rendered after this extension runs: look again whenever the toolbar changes
      var observer = new MutationObserver(function () { update(panel, context); });
      observer.observe(panel.toolbar.node, { childList: true, subtree: true });
      context.ready.then(function () {
        update(panel, context);
        context.model.contentChanged.connect(function () { update(panel, context); });
      });
      panel.disposed.connect(function () { observer.disconnect(); });
    }
  };

  // nbgrader's dialog: #validation-message > [div > p "The following cell failed:", div.jp-RenderedText > pre
  // (the verdict), div.jp-RenderedText > pre (the report, holding the marker)]
  var REPORT = ".coursekit-check-report";
  var STYLE = [
    "#validation-message:has(" + REPORT + ") > div:not(.jp-RenderedText) { display: none; }",
    "#validation-message:has(" + REPORT + ") > div.jp-RenderedText:nth-child(2) pre { font-weight: bold; }",
    "#validation-message:has(" + REPORT + ") pre { white-space: pre-wrap; }"
  ].join("\n");

  function addStyle() {
    if (document.getElementById("coursekit-lab-style")) {
      return;
    }
    var style = document.createElement("style");
    style.id = "coursekit-lab-style";
    style.textContent = STYLE;
    document.head.appendChild(style);
  }

  var plugin = {
    id: NAME + ":validate-on-assignments",
    description: "Shows nbgrader's Validate button on assignment notebooks only; its dialog as coursekit check's report.",
    autoStart: true,
    activate: function (app) {
      addStyle();
      app.docRegistry.addWidgetExtension("Notebook", validateOnAssignments);
    }
  };

  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = {
    init: function () { return Promise.resolve(); },   // shares no module with JupyterLab
    get: function (module) {
      if (module !== "./extension") {
        return Promise.reject(new Error(NAME + " has no module " + module));
      }
      return Promise.resolve(function () { return { __esModule: true, default: [plugin] }; });
    }
  };
})();
