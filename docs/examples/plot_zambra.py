"""
Zambra et al.: coloured 4-node motifs
=====================================

``deepcnt reproduce zambra`` at the smallest size: 4-node motif z-scores emerge with training and depend on
the initialisation. The findings table
says which finding shows at this size; see the reproduction page for the full-size numbers.
"""
import tempfile

from deepcnt.bindings.reproduce import reproduce

result = reproduce("zambra", out=tempfile.mkdtemp(), size="tiny")
print(result)

# %%
# The figures the reproduction wrote:
result.show()
