/* LendBridge live dashboard (M12.4).
 *
 * The page holds no data: staff log in (the `login` mutation over fetch), the tokens are
 * kept in this script's memory only (never in storage), and the figures come through the
 * `dashboardFigures` subscription over a WebSocket to /graphql, spoken in the
 * graphql-transport-ws protocol: connection_init with the bearer token, subscribe,
 * next / error / complete, ping answered with pong. A dropped connection is opened again
 * after 1, 2, 4 ... up to 30 seconds (with some jitter); a token that expired (close
 * 4401) is traded for a new pair with the refresh token first.
 */
(function () {
  "use strict";

  var SUBSCRIPTION =
    "subscription Dashboard { dashboardFigures { businessTime today volumeToday " +
    "loansDisbursedToday bidsLastMinute bidAmountLastMinute " +
    "hotLoans { loanId amount funded remaining progress bidsLastHour } " +
    "overdue { bucket loanCount amount } " +
    "complaints { open breaching openedToday averageFirstAnswerMinutes } " +
    "vintages { cohort loanCount principal points } } }";
  var LOGIN =
    "mutation Login($phone: String!, $password: String!) { " +
    "login(input: {phone: $phone, password: $password}) { __typename " +
    "... on AuthPayload { accessToken refreshToken } ... on LoginError { code message } } }";
  var REFRESH =
    "mutation Refresh($token: String!) { refreshToken(input: {refreshToken: $token}) { " +
    "__typename ... on AuthPayload { accessToken refreshToken } " +
    "... on RefreshTokenError { code message } } }";
  var LOGOUT =
    "mutation Logout($token: String) { logout(input: {refreshToken: $token}) { __typename } }";
  var BUCKETS = { M1: "M1 (1-30天)", M2: "M2 (31-60天)", M3_PLUS: "M3+ (>60天)", OVER_90: ">90天" };
  var COLORS = ["#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#0a7ea4", "#bf3989"];
  var MAX_BACKOFF_MS = 30000;

  var session = null; // {access, refresh}: memory only
  var socket = null;
  var retries = 0;
  var retryTimer = null;
  var hotChart = null;
  var hotLabels = [];
  var vintageChart = null;
  var vintageKey = "";

  function $(id) {
    return document.getElementById(id);
  }

  // --- HTTP: login, refresh, logout ------------------------------------------------

  function graphql(query, variables, token) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return fetch("/graphql", {
      method: "POST",
      headers: headers,
      body: JSON.stringify({ query: query, variables: variables }),
      credentials: "omit",
      cache: "no-store",
    }).then(function (response) {
      return response.json();
    });
  }

  function onLogin(event) {
    event.preventDefault();
    var phone = $("phone").value.trim();
    var password = $("password").value;
    $("login-error").textContent = "";
    $("login-button").disabled = true;
    graphql(LOGIN, { phone: phone, password: password })
      .then(function (body) {
        var result = body.data && body.data.login;
        if (!result) throw new Error(errorText(body.errors));
        if (result.__typename !== "AuthPayload") throw new Error(result.message || result.code);
        $("password").value = "";
        startSession({ access: result.accessToken, refresh: result.refreshToken });
      })
      .catch(function (error) {
        $("login-error").textContent = "登录失败 · Login failed: " + error.message;
      })
      .then(function () {
        $("login-button").disabled = false;
      });
  }

  function refreshSession() {
    if (!session || !session.refresh) return Promise.reject(new Error("no session"));
    return graphql(REFRESH, { token: session.refresh }).then(function (body) {
      var result = body.data && body.data.refreshToken;
      if (!result || result.__typename !== "AuthPayload") throw new Error("refresh refused");
      session = { access: result.accessToken, refresh: result.refreshToken };
    });
  }

  function onLogout() {
    var ending = session;
    endSession("已退出 · Logged out");
    if (ending) graphql(LOGOUT, { token: ending.refresh }, ending.access).catch(function () {});
  }

  function startSession(tokens) {
    session = tokens;
    $("login").hidden = true;
    $("board").hidden = false;
    $("logout").hidden = false;
    $("board-error").textContent = "";
    retries = 0;
    connect();
  }

  function endSession(message) {
    session = null;
    clearTimeout(retryTimer);
    if (socket) {
      var closing = socket;
      socket = null;
      closing.close(1000, "logged out");
    }
    $("board").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    setStatus("off", "未连接 · Offline");
  }

  // --- WebSocket: graphql-transport-ws ---------------------------------------------

  function connect() {
    if (!session) return;
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var ws = new WebSocket(scheme + "//" + location.host + "/graphql", "graphql-transport-ws");
    socket = ws;
    setStatus("wait", "连接中 · Connecting");
    ws.onopen = function () {
      send(ws, {
        type: "connection_init",
        payload: { Authorization: "Bearer " + session.access },
      });
    };
    ws.onmessage = function (event) {
      if (ws !== socket) return;
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      onMessage(ws, message);
    };
    ws.onclose = function (event) {
      if (ws !== socket) return; // replaced or logged out
      socket = null;
      onClosed(event.code);
    };
  }

  function send(ws, message) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function onMessage(ws, message) {
    switch (message.type) {
      case "connection_ack":
        retries = 0;
        setStatus("live", "实时 · Live");
        send(ws, { id: "1", type: "subscribe", payload: { query: SUBSCRIPTION } });
        break;
      case "ping":
        send(ws, { type: "pong" });
        break;
      case "next":
        onNext(message.payload || {});
        break;
      case "error":
        onRefused(message.payload || []);
        break;
      case "complete":
        ws.close(1000, "completed"); // the server ended it: subscribe again
        break;
    }
  }

  function onNext(payload) {
    if (payload.errors && payload.errors.length) {
      $("board-error").textContent = errorText(payload.errors);
    }
    if (payload.data && payload.data.dashboardFigures) {
      $("board-error").textContent = "";
      render(payload.data.dashboardFigures);
    }
  }

  function onRefused(errors) {
    var codes = errors.map(function (error) {
      return (error.extensions || {}).code;
    });
    if (codes.indexOf("UNAUTHENTICATED") >= 0) {
      endSession("请重新登录 · Please log in again");
    } else if (codes.indexOf("FORBIDDEN") >= 0) {
      var ending = socket;
      socket = null;
      if (ending) ending.close(1000, "forbidden");
      setStatus("off", "无权限 · No access");
      $("board-error").textContent =
        "此账号没有 analytics:read 权限 · This login may not read the figures (analytics:read).";
    } else {
      $("board-error").textContent = errorText(errors);
    }
  }

  function onClosed(code) {
    if (!session) return;
    if (code === 4401) {
      // The access token expired or was revoked: a new pair, then at once again.
      setStatus("wait", "续期中 · Renewing");
      refreshSession().then(connect, function () {
        endSession("会话已过期，请重新登录 · Session expired, log in again");
      });
      return;
    }
    var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, retries));
    delay = Math.round(delay * (0.8 + Math.random() * 0.4));
    retries += 1;
    setStatus("wait", "重连中 · Reconnecting in " + Math.ceil(delay / 1000) + " s");
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  function setStatus(kind, text) {
    var status = $("status");
    status.className = "status status-" + kind;
    status.textContent = text;
  }

  function errorText(errors) {
    return (errors || [])
      .map(function (error) {
        var code = (error.extensions || {}).code;
        return code ? code + ": " + error.message : error.message;
      })
      .join("; ");
  }

  // --- drawing -----------------------------------------------------------------------

  function money(text) {
    // "1234567.89" -> "1,234,567.89" (the string as sent: no float rounding)
    var negative = text.charAt(0) === "-";
    var parts = (negative ? text.slice(1) : text).split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + whole + (parts.length > 1 ? "." + parts[1] : "");
  }

  function percent(rate) {
    return (parseFloat(rate) * 100).toFixed(2) + "%";
  }

  function render(figures) {
    $("business-time").textContent =
      figures.businessTime.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC");
    $("volume-today").textContent = money(figures.volumeToday);
    $("loans-today").textContent = String(figures.loansDisbursedToday);
    $("bids-minute").textContent = String(figures.bidsLastMinute);
    $("bid-amount-minute").textContent = money(figures.bidAmountLastMinute);
    renderComplaints(figures.complaints);
    renderOverdue(figures.overdue);
    renderHot(figures.hotLoans);
    renderVintages(figures.vintages);
  }

  function renderComplaints(complaints) {
    $("complaints-open").textContent = String(complaints.open);
    $("complaints-breaching").textContent = String(complaints.breaching);
    $("complaints-breaching").className = complaints.breaching > 0 ? "error" : "";
    $("complaints-today").textContent = String(complaints.openedToday);
    var minutes = complaints.averageFirstAnswerMinutes;
    $("complaints-answer").textContent = minutes === null ? "—" : minutes + " 分钟 min";
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function renderOverdue(buckets) {
    var body = $("overdue");
    body.textContent = "";
    buckets.forEach(function (bucket) {
      var row = document.createElement("tr");
      row.id = "overdue-" + bucket.bucket;
      cell(row, BUCKETS[bucket.bucket] || bucket.bucket);
      cell(row, String(bucket.loanCount));
      cell(row, money(bucket.amount));
      body.appendChild(row);
    });
  }

  function chartWidth(element) {
    return Math.max(240, element.clientWidth || element.parentNode.clientWidth - 32);
  }

  function renderHot(loans) {
    hotLabels = loans.map(function (loan) {
      return "#" + loan.loanId;
    });
    var xs = loans.map(function (_loan, index) {
      return index + 1;
    });
    var data = [
      xs,
      loans.map(function (loan) {
        return parseFloat(loan.progress) * 100;
      }),
    ];
    var list = $("hot-list");
    list.textContent = "";
    if (!loans.length) {
      var none = document.createElement("li");
      none.textContent = "最近一小时没有投标 · No bids on listed loans in the last hour";
      list.appendChild(none);
    }
    loans.forEach(function (loan) {
      var item = document.createElement("li");
      item.id = "hot-" + loan.loanId;
      item.textContent =
        "#" + loan.loanId + " · ¥" + money(loan.funded) + " / ¥" + money(loan.amount) +
        " (" + percent(loan.progress) + ") · 剩余 remaining ¥" + money(loan.remaining) +
        " · " + loan.bidsLastHour + " 笔投标 bids/h";
      list.appendChild(item);
    });
    if (!hotChart) {
      var element = $("hot-chart");
      hotChart = new uPlot(
        {
          width: chartWidth(element),
          height: 220,
          legend: { show: false },
          cursor: { show: false },
          scales: { x: { time: false, range: [0.4, 5.6] }, y: { range: [0, 100] } },
          axes: [
            {
              splits: function () {
                return hotLabels.map(function (_label, index) {
                  return index + 1;
                });
              },
              values: function (_chart, splits) {
                return splits.map(function (split) {
                  return hotLabels[split - 1] || "";
                });
              },
            },
            {
              values: function (_chart, splits) {
                return splits.map(function (split) {
                  return split + "%";
                });
              },
            },
          ],
          series: [
            {},
            {
              label: "已筹 Funded %",
              stroke: COLORS[0],
              fill: "rgba(31, 111, 235, 0.55)",
              paths: uPlot.paths.bars({ size: [0.6, 80] }),
              points: { show: false },
            },
          ],
        },
        data,
        element
      );
    } else {
      hotChart.setData(data);
      // The x range is fixed, so uPlot keeps its ticks: the loans under them changed.
      hotChart.redraw(false, true);
    }
  }

  function renderVintages(curves) {
    var months = 0;
    curves.forEach(function (curve) {
      months = Math.max(months, curve.points.length);
    });
    $("vintage-empty").hidden = months > 0;
    var xs = [];
    for (var month = 1; month <= months; month++) xs.push(month);
    var data = [xs].concat(
      curves.map(function (curve) {
        return xs.map(function (month) {
          var point = curve.points[month - 1];
          return point === undefined ? null : parseFloat(point) * 100;
        });
      })
    );
    var key = curves
      .map(function (curve) {
        return curve.cohort;
      })
      .join(",");
    if (vintageChart && key === vintageKey) {
      vintageChart.setData(data);
      return;
    }
    if (vintageChart) vintageChart.destroy();
    vintageKey = key;
    var element = $("vintage-chart");
    vintageChart = new uPlot(
      {
        width: chartWidth(element),
        height: 240,
        legend: { show: curves.length > 0 },
        scales: {
          x: { time: false },
          y: {
            range: function (_chart, _min, max) {
              return [0, Math.max(1, Math.ceil((max || 0) * 1.1))];
            },
          },
        },
        axes: [
          {
            values: function (_chart, splits) {
              return splits.map(function (split) {
                return Number.isInteger(split) ? "M" + split : "";
              });
            },
          },
          {
            values: function (_chart, splits) {
              return splits.map(function (split) {
                return split.toFixed(1) + "%";
              });
            },
          },
        ],
        series: [{ label: "MOB" }].concat(
          curves.map(function (curve, index) {
            return {
              label: curve.cohort,
              stroke: COLORS[index % COLORS.length],
              width: 2,
              value: function (_chart, value) {
                return value == null ? "—" : value.toFixed(2) + "%";
              },
            };
          })
        ),
      },
      data,
      element
    );
  }

  function resize() {
    [
      [hotChart, "hot-chart", 220],
      [vintageChart, "vintage-chart", 240],
    ].forEach(function (entry) {
      if (entry[0]) entry[0].setSize({ width: chartWidth($(entry[1])), height: entry[2] });
    });
  }

  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  window.addEventListener("resize", resize);
})();
