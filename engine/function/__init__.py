"""The network as a function of its input: receptive fields and their transport distances and clusters,
mutual information with the class, activity, permutation statistics.

The functions are exported flat, as ``deepcnt.<function>``; ``deepcnt.function.<module>`` are the modules.
"""

