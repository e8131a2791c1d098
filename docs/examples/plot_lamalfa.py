"""
La Malfa et al.: layers fluctuation by accuracy group
=====================================================

``deepcnt reproduce lamalfa`` at the smallest size: the strength fluctuation of low- and high-accuracy
networks differs (and how much of it the weights' scale explains). The findings table
says which finding shows at this size; see the reproduction page for the full-size numbers.
"""
import tempfile

from deepcnt.bindings.reproduce import reproduce

result = reproduce("lamalfa", out=tempfile.mkdtemp(), size="tiny")
print(result)

# %%
# The figures the reproduction wrote:
result.show()
