// LendBridge's GraphiQL page: strawberry-graphql's inline script, moved into a file so
// the Content-Security-Policy needs no 'unsafe-inline'. No cookies are read: the API
// takes a bearer token, which the member types into the headers editor.
(function () {
  "use strict";

  var EXAMPLE_QUERY =
    "# LendBridge GraphQL console (dev and test only)\n" +
    "#\n" +
    "# Sign in with the `login` mutation, then put its token in the headers below:\n" +
    '#   {"Authorization": "Bearer <accessToken>"}\n' +
    "# Run: Ctrl-Enter (or the play button). Complete: Ctrl-Space.\n" +
    "\n" +
    "query SchedulePreview {\n" +
    "  businessClock { today }\n" +
    '  loanSchedulePreview(amount: "10000.00", annualRate: "0.1200", termMonths: 12,\n' +
    "                      method: EQUAL_INSTALLMENT) {\n" +
    "    totalInterest\n" +
    "    installments { number dueDate principal interest }\n" +
    "  }\n" +
    "}\n";

  // The query, variables and headers are kept in the address (shareable links).
  var parameters = {};
  window.location.search
    .slice(1)
    .split("&")
    .forEach(function (entry) {
      var eq = entry.indexOf("=");
      if (eq >= 0) {
        parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(
          entry.slice(eq + 1),
        );
      }
    });

  function updateURL(data) {
    Object.assign(parameters, data);
    var search =
      "?" +
      Object.keys(parameters)
        .filter(function (key) {
          return Boolean(parameters[key]);
        })
        .map(function (key) {
          return encodeURIComponent(key) + "=" + encodeURIComponent(parameters[key]);
        })
        .join("&");
    history.replaceState(null, null, search);
  }

  var fetchURL = window.location.href.split("?")[0];
  var socketURL = new URL(fetchURL);
  socketURL.protocol = socketURL.protocol === "https:" ? "wss:" : "ws:";
  socketURL.hash = "";

  var fetcher = GraphiQL.createFetcher({
    url: fetchURL,
    subscriptionUrl: socketURL.toString(),
  });

  function Console() {
    var queryState = React.useState(parameters.q || EXAMPLE_QUERY);
    var variablesState = React.useState(parameters.variables);
    var headersState = React.useState(parameters.headers);
    var explorer = React.useMemo(function () {
      return GraphiQLPluginExplorer.explorerPlugin();
    }, []);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorer],
      query: queryState[0],
      variables: variablesState[0],
      headers: headersState[0],
      onEditQuery: function (value) {
        queryState[1](value);
        updateURL({ q: value });
      },
      onEditVariables: function (value) {
        variablesState[1](value);
        updateURL({ variables: value });
      },
      onEditHeaders: function (value) {
        headersState[1](value);
      },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(Console),
  );
})();
