"""The search page's script and style, inlined into every page (package data).

- ``page.js``, ``page.css``: the page's own drawing code and style.
- ``plotly-cartesian.min.js.gz``: plotly.js's "cartesian" bundle (npm package
  ``plotly.js-cartesian-dist-min``, version 4.1.1: scatter, bar, box and the other 2-D traces,
  all the page draws with), compressed with ``gzip -9n``. MIT licence: ``plotly-LICENSE.txt``.
  The page carries it compressed and the browser unpacks it (``DecompressionStream``), so a
  page weighs about 0.7 MB instead of the 4.8 MB of all of plotly.js. To update it::

      npm pack plotly.js-cartesian-dist-min@VERSION && tar xzf plotly.js-cartesian-*.tgz
      gzip -9nc package/plotly-cartesian.min.js > plotly-cartesian.min.js.gz
"""
